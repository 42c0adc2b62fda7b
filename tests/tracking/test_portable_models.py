"""A logged model stands alone: it loads with mlflow and torch in a process where `models`,
`frontends` and `reports` are the user's own packages and specsweep is not installed, scores
like the model in memory, and leaves the user's packages alone. Its pyfunc takes float64, one
signal, and signals of other lengths, and answers with the class names.

The subprocess runs as a process without specsweep would: `python -S` (no site-packages `.pth`
files, so no editable-install import hook that would resolve `models.scoring` to specsweep's
source whatever sys.path says), with sys.path = the user's folder, the standard library and
site-packages, and a check that `runner` cannot be imported there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.pytorch
import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from frontends import FrontendConfig
from models.classifier import create_classifier
from models.config import ModelConfig
from models.scoring import ClipScorer
from runner.tracking import logged_models

SR = 8000
CLASSES = ("amro", "noca", "bcch")


def tiny_scorer(compression: str = "pcen", normalize: str = "rms") -> ClipScorer:
    torch.manual_seed(0)
    frontend = FrontendConfig(
        sample_rate=SR, win_length=256, hop_length=128, n_mels=32, image_size=(32, 48),
        compression=compression,
    )  # fmt: skip
    model = ModelConfig(name="mobilenetv3_small_050", pretrained="none")
    classifier = create_classifier(frontend.resolved(), model, len(CLASSES)).eval()
    return ClipScorer(classifier, CLASSES, SR, SR, normalize)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A tiny scorer logged as a trial's model, and the model downloaded to a plain folder."""
    root = tmp_path_factory.mktemp("portable")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("portable", artifact_location=str(root / "art"))
    run_id = client.create_run(exp_id, tags={"cfg_key": "abc", "seed": "0"}).info.run_id
    scorer = tiny_scorer()
    meta = logged_models.model_metadata(scorer, config="tiny")
    model_id = logged_models.log_trial_model(uri, run_id, scorer, meta)
    client.set_terminated(run_id, "FINISHED")
    mlflow.set_tracking_uri(uri)
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{model_id}", dst_path=root / "m"))
    return {"root": root, "uri": uri, "scorer": scorer, "folder": folder, "model_id": model_id}


def user_project(root: Path) -> Path:
    """A user's folder with packages named like specsweep's."""
    for package in ("models", "frontends", "reports"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(f"OWNER = 'user {package}'\n")
    (root / "models" / "net.py").write_text("def net():\n    return 'the user net'\n")
    (root / "frontends" / "scoring.py").write_text("X = 1\n")
    return root


CHILD = """
import importlib.util, json, sys
import numpy as np
assert importlib.util.find_spec("runner") is None, "specsweep is importable: the test is void"
assert not any("__editable__" in type(f).__module__ for f in sys.meta_path)
import models, frontends                      # the user's, imported before the model
before = {name: sys.modules[name] for name in ("models", "frontends")}
import mlflow.pyfunc, mlflow.pytorch, torch
waveform = np.load(sys.argv[2])
scorer = mlflow.pytorch.load_model(sys.argv[1], map_location="cpu")
with torch.inference_mode():
    torch_out = scorer(torch.from_numpy(waveform)).numpy()
table = mlflow.pyfunc.load_model(sys.argv[1]).predict(waveform.astype(np.float64))
import reports                                # the user's, imported after the model
from models import net
from frontends import scoring
assert all(sys.modules[name] is module for name, module in before.items())
print(json.dumps({
    "torch": torch_out.tolist(), "pyfunc": table[list(scorer.classes)].to_numpy().tolist(),
    "columns": list(table.columns), "owners": [models.OWNER, frontends.OWNER, reports.OWNER],
    "net": net.net(), "scoring": scoring.X, "scorer_module": type(scorer).__module__,
}))
"""


def isolated_python(script: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `script` as a process where specsweep is not installed: no site .pth files (-S), the
    user's folder first, then the standard library and site-packages; not the repository."""
    paths = sysconfig.get_paths()
    dynload = next(p for p in sys.path if p.endswith("lib-dynload"))
    path = [str(cwd), paths["stdlib"], dynload, paths["purelib"], paths["platlib"]]
    head = f"import sys; sys.path[:] = {json.dumps(list(dict.fromkeys(path)))}\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [sys.executable, "-S", "-c", head + textwrap.dedent(script), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_model_loads_beside_the_users_own_packages(logged, tmp_path):
    user = user_project(tmp_path / "project")
    waveform = (0.05 * np.random.default_rng(3).standard_normal((4, SR))).astype(np.float32)
    np.save(tmp_path / "x.npy", waveform)
    child = isolated_python(CHILD, user, str(logged["folder"]), str(tmp_path / "x.npy"))
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads(child.stdout.strip().splitlines()[-1])
    with torch.inference_mode():
        expected = logged["scorer"](torch.from_numpy(waveform)).numpy()
    np.testing.assert_allclose(out["torch"], expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["pyfunc"], expected, atol=1e-5, rtol=0)
    assert out["columns"] == ["clip", "start_s", "end_s", *CLASSES]
    assert out["owners"] == ["user models", "user frontends", "user reports"]
    assert out["net"] == "the user net" and out["scoring"] == 1
    assert out["scorer_module"].startswith("_specsweep_model_")
