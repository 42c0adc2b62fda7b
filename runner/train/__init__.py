"""One trial, end to end, in the process that runs it.

Owns the training loop (`loop`), the input pipeline and augmentation (`pipeline`, `augment`),
the recipe's parts (`recipe`: loss, head bias, the learned verdict), the ranking metrics
(`metrics`), preemption-safe checkpoints (`checkpoint`), `trial` (which puts one trial together
from a `TrialSpec`: `run_trial`) with its phases (`running`), its device and seeds (`runtime`),
how it ends (`outcome`) and its artifacts beside metrics (`artifacts`), scoring recordings
with a trained model (`predict`) and what a trained configuration costs to run
(`inference_cost`). It never schedules work, never talks to Optuna (beyond
`TrialPruned` subclassing Optuna's), never draws (the preview is `reports.preview`), and writes
to MLflow only through `runner.tracking`.
"""
