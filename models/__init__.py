"""Classifiers: a frontend (waveform -> image, from `frontends`) followed by a timm backbone
(image -> logits), configured by `ModelConfig` (the `model:` section of a sweep file), and the
scorer a trained one is packaged as (`scoring`), the windows a scorer takes (`windows`) and the
pyfunc a logged model answers with (`serving`, loaded by MLflow from the model's own copy of this
package; it imports no MLflow). Its only I/O is pretrained weights (timm's hub
or a local file) and a cached list of timm's model names (`_timm_names`): it never reads
datasets, never trains, and never talks to MLflow or Optuna.
"""
