"""The sweep file in, trial specs out.

Owns the sweep file's schema (`schema`, `config`, `train_config`), reading YAML within limits
(`safe_yaml`), the size limits (`limits`), grid expansion into `TrialSpec`s (`grid`, `spec`), and
the one data check before a sweep starts (`datacheck`). It never trains and never opens the
Optuna store or MLflow; it imports torch only when `datacheck` loads the data, so `specsweep plan`
runs on this package alone without it.
"""
