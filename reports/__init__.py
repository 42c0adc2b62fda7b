"""Reports: MLflow runs -> tidy table -> figures and report.html / report.md."""
