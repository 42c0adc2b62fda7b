"""All MLflow writing and reading.

Owns one trial's run (`trial_runs`), the experiment and its page in the UI (`experiment`),
logged models (`logged_models`) with the code they carry (`bundle`) and their ONNX form
(`onnx_export`), system metrics (`system_metrics`) and reading a sweep's runs
back into a table (`runs`). It never decides what to train or when, and never draws a figure
(figures are `reports`).
"""
