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
from helpers.tiny_model import CLASSES, SR, tiny_scorer
from mlflow import MlflowClient

from runner.tracking import experiment as experiment_page
from runner.tracking import logged_models


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A tiny scorer logged as a trial's model, and the model downloaded to a plain folder."""
    root = tmp_path_factory.mktemp("portable")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("portable", artifact_location=str(root / "art"))
    experiment_page.prepare(client, exp_id, ["test"], [], log_model="all", onnx=True)
    tags = {"specsweep.kind": "trial", "cfg_key": "abc", "seed": "0"}
    run_id = client.create_run(exp_id, tags=tags, run_name="tiny-s0").info.run_id
    scorer = tiny_scorer()
    meta = logged_models.model_metadata(scorer, config="tiny")
    model_id = logged_models.log_trial_model(uri, run_id, scorer, meta)
    client.set_terminated(run_id, "FINISHED")
    mlflow.set_tracking_uri(uri)
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{model_id}", dst_path=root / "m"))
    return {
        "root": root, "uri": uri, "scorer": scorer, "folder": folder, "model_id": model_id,
        "run_id": run_id,
    }  # fmt: skip


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


# --------------------------------------------------------------------------- the pyfunc


@pytest.fixture(scope="module")
def pyfunc(logged):
    return mlflow.pyfunc.load_model(str(logged["folder"]))


def scores_of(scorer, clips: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return scorer(torch.from_numpy(clips.astype(np.float32))).numpy()


def test_the_model_carries_metadata_signature_and_example(pyfunc):
    meta = pyfunc.metadata
    assert meta.metadata["classes"] == list(CLASSES) and meta.metadata["sample_rate"] == SR
    assert meta.metadata["code_package"].startswith("_specsweep_model_")
    assert "float32 or float64" in meta.metadata["input"]
    assert [c["name"] for c in meta.signature.outputs.to_dict()] == [
        "clip", "start_s", "end_s", *CLASSES
    ]  # fmt: skip
    assert meta.saved_input_example_info is not None
    assert meta.flavors["python_function"]["loader_module"].endswith(".models.serving")


def test_pyfunc_takes_float64_and_one_signal(logged, pyfunc):
    clips = 0.05 * np.random.default_rng(5).standard_normal((3, SR))  # float64, as soundfile reads
    table = pyfunc.predict(clips)
    assert list(table["clip"]) == [0, 1, 2] and list(table["start_s"]) == [0.0, 0.0, 0.0]
    expected = scores_of(logged["scorer"], clips)
    np.testing.assert_allclose(table[list(CLASSES)].to_numpy(), expected, atol=1e-5, rtol=0)
    one = pyfunc.predict(clips[1])  # (samples,)
    assert len(one) == 1 and one["end_s"][0] == 1.0
    np.testing.assert_allclose(one[list(CLASSES)].to_numpy(), expected[1:2], atol=1e-5, rtol=0)


def test_pyfunc_cuts_other_lengths_into_windows_as_predict_does(logged, pyfunc):
    from models.windows import padded

    rng = np.random.default_rng(6)
    long = (0.05 * rng.standard_normal(round(2.5 * SR))).astype(np.float32)
    short = (0.05 * rng.standard_normal(SR // 4)).astype(np.float32)
    table = pyfunc.predict([long, short])  # a ragged list: one signal per entry
    assert list(table["clip"]) == [0, 0, 0, 1]
    assert list(table["start_s"]) == [0.0, 1.0, 1.5, 0.0]  # the last window flush with the end
    assert list(table["end_s"]) == [1.0, 2.0, 2.5, 0.25]
    windows = np.stack([long[:SR], long[SR : 2 * SR], long[-SR:], padded(short, SR)])
    expected = scores_of(logged["scorer"], windows)
    np.testing.assert_allclose(table[list(CLASSES)].to_numpy(), expected, atol=1e-5, rtol=0)
    frame = pyfunc.predict(__import__("pandas").DataFrame(windows[:2]))  # one clip per row
    np.testing.assert_allclose(frame[list(CLASSES)].to_numpy(), expected[:2], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((2, SR), dtype=np.int16), "dtype int16 is not floating point"),
        (np.zeros((2, 2, SR), dtype=np.float32), "is not (samples,) or (n, samples)"),
        (np.full(SR, np.nan), "NaN or inf"),
    ],
)
def test_pyfunc_says_what_is_wrong(pyfunc, bad, message):
    with pytest.raises(Exception, match=__import__("re").escape(message)):
        pyfunc.predict(bad)


# --------------------------------------------------------------------------- specsweep export


def test_export_writes_an_onnx_file_that_onnxruntime_runs(logged, tmp_path, capsys):
    import onnxruntime as ort

    from runner.cli import main

    out = tmp_path / "best.onnx"
    code = main(["export", str(logged["folder"]), "--onnx", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"wrote {out}" in printed and "onnxruntime agrees with torch" in printed
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == list(CLASSES) and meta["sample_rate"] == str(SR)
    for batch in (1, 5):  # the batch axis is dynamic
        clips = (0.05 * np.random.default_rng(batch).standard_normal((batch, SR))).astype("f4")
        (got,) = session.run(None, {"waveform": clips})
        np.testing.assert_allclose(got, scores_of(logged["scorer"], clips), atol=1e-4, rtol=0)


def test_tracking_onnx_logs_the_onnx_file_beside_the_model(logged):
    """`tracking.onnx: true` (the experiment's tag): model.onnx in the model's extra files."""
    import onnxruntime as ort

    (path,) = (logged["folder"] / "extra_files").rglob("model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "waveform"
    tag = MlflowClient(logged["uri"]).get_run(logged["run_id"]).data.tags["onnx"]
    assert tag.startswith("onnxruntime agrees with torch"), tag


def test_export_of_an_unknown_model_exits_2(tmp_path, capsys):
    from runner.cli import main

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = main(
        ["export", "not-a-model", "--onnx", str(tmp_path / "x.onnx"), "--tracking-uri", uri]
    )
    err = capsys.readouterr().err
    assert code == 2 and "model 'not-a-model': not a run id" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.onnx").exists()
    code = main(["export", str(tmp_path), "--onnx", str(tmp_path / "x.txt")])
    assert code == 2 and "must end in .onnx" in capsys.readouterr().err


def test_a_model_logged_the_old_way_still_predicts(tmp_path, capsys):
    """Before the bundle: top-level `frontends/` and `models/` as code_paths. `specsweep predict`
    loads it with the code installed here."""
    import soundfile as sf

    import frontends
    import models
    from runner.cli import main

    scorer = tiny_scorer("db")
    folder = tmp_path / "old"
    mlflow.pytorch.save_model(
        scorer, str(folder), serialization_format="pickle",
        code_paths=[str(Path(frontends.__file__).parent), str(Path(models.__file__).parent)],
    )  # fmt: skip
    audio = tmp_path / "a.wav"
    sf.write(audio, 0.05 * np.random.default_rng(0).standard_normal(3 * SR), SR)
    out = tmp_path / "scores.csv"
    code = main(["predict", str(folder), str(audio), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 1 + 3


@pytest.mark.slow
def test_mlflow_models_serve_answers_with_class_names(logged, tmp_path):
    """`mlflow models serve --env-manager local` on the logged model, asked over HTTP."""
    import socket
    import urllib.request

    from helpers.servers import stop_process, wait_http

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(logged["folder"]),
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        # as in an activated venv: mlflow starts `uvicorn` by name
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", 180, proc)
        clips = 0.05 * np.random.default_rng(9).standard_normal((2, SR))  # float64 JSON numbers
        body = json.dumps({"inputs": clips.tolist()}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    finally:
        stop_process(proc)
    rows = answer["predictions"]
    assert [row["clip"] for row in rows] == [0, 1]
    got = np.array([[row[name] for name in CLASSES] for row in rows])
    np.testing.assert_allclose(got, scores_of(logged["scorer"], clips), atol=1e-5, rtol=0)


def test_report_measure_inference_measures_the_logged_model_once(logged):
    from runner.train.inference_cost import COST_METRICS, LATENCY, measure_logged_models

    lines = measure_logged_models(logged["uri"], "portable")
    assert len(lines) == 1 and lines[0].startswith("inference cost: tiny-s0: "), lines
    metrics = MlflowClient(logged["uri"]).get_run(logged["run_id"]).data.metrics
    assert set(COST_METRICS) <= set(metrics) and metrics[LATENCY] > 0
    assert measure_logged_models(logged["uri"], "portable") == []  # measured already


def test_a_model_whose_code_is_gone_says_what_to_do(tmp_path, capsys, monkeypatch):
    """A pickle naming a module this install does not have: one line, exit 2."""
    from runner.cli import main

    package = tmp_path / "code" / "gone_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from models.scoring import ClipScorer\n\nclass OldScorer(ClipScorer):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    from gone_pkg import OldScorer

    scorer = tiny_scorer("db")
    old = OldScorer(scorer.classifier, scorer.classes, SR, SR)
    mlflow.pytorch.save_model(old, str(tmp_path / "m"), serialization_format="pickle")
    capsys.readouterr()  # MLflow's warning on pickled models
    monkeypatch.delitem(sys.modules, "gone_pkg")
    audio = tmp_path / "a.wav"
    __import__("soundfile").write(audio, np.zeros(SR, dtype=np.float32), SR)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path / "code")])
    code = main(["predict", str(tmp_path / "m"), str(audio), "--out", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "its code does not load here (ModuleNotFoundError" in err
    assert "score it where that version is installed" in err
