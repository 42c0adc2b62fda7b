"""Shared servers a multi-node sweep uses: a private PostgreSQL for the Optuna store
(`postgres`), checks that a storage or tracking URL answers (`remote`), and passwords kept out of
every log and error (`secrets`). It knows nothing of sweeps, trials or MLflow runs.
"""
