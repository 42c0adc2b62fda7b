"""Helpers the tests share (not tests themselves): audio files and manifests written for real
(`audio`), the tiny sweep's sections and its writer (`tiny_sweep`; the fixtures over it are in
tests/conftest.py), the tiny trial (`tiny_trial`), the Merlin study's Part 1 grid (`merlin`),
MLflow runs logged by hand for the report tests (`report_runs`), the MLflow server process of the
multi-node tests (`servers`), and a stand-in child for the supervisor (`fake_worker`, run as a
script)."""
