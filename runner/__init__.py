"""specsweep's runner: sweep files, grid expansion, data, training, the Optuna queue, MLflow."""
