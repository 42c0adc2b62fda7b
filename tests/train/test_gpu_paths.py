"""The GPU code paths of one trial, exercised on the CPU: what needs CUDA is stubbed where there
is no device (so a typo cannot hide behind `if cuda`), the rest runs for real.

- the device: `cuda:N` checked against the visible GPUs and made current; one message when torch
  can use no GPU; pin_memory follows the trial's device, not `torch.cuda.is_available()`;
- precision: `amp: auto` is bf16 only where the GPU has bf16 tensor cores (compute capability 8);
- checkpoints keep the CUDA generator of the trial's device only;
- CUDA timing (synchronise before reading the clock), peak memory, NVML handles of the
  child's own GPU;
- real CPU trials with bf16 autocast, channels_last and torch.compile (the frontend in float32
  under autocast; the compile time logged apart from the training time).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import types
from pathlib import Path

import pytest
import torch
from helpers.tiny_trial import tiny_spec, uri
from mlflow import MlflowClient
from torch import nn

from runner.errors import UserError
from runner.sweep.spec import TrialConfig
from runner.sweep.train_config import TrainConfig
from runner.train import checkpoint as ckpt
from runner.train import loop
from runner.train.loop import Precision, peak_memory_mb, synchronize, train_one_epoch
from runner.train.runtime import resolve_device
from runner.train.trial import run_trial

pytestmark = pytest.mark.usefixtures("in_tmp")

CUDA0, CUDA1 = torch.device("cuda", 0), torch.device("cuda", 1)


@pytest.fixture
def two_gpus(monkeypatch):
    """torch.cuda as a process that sees two GPUs would find it; returns the calls made."""
    calls: list[tuple] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    return calls


# --------------------------------------------------------------------------- the device


def test_cuda_n_is_checked_and_made_current(two_gpus):
    assert resolve_device("cuda:1") == CUDA1
    assert two_gpus == [("set_device", CUDA1)]
    assert resolve_device("cuda") == CUDA0  # the current one, with its index
    with pytest.raises(UserError, match=r"device cuda:2: this process sees 2 GPU\(s\), cuda:0 to"):
        resolve_device("cuda:2")


def test_no_usable_gpu_is_one_message_naming_torchs_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1234")
    with pytest.raises(UserError) as err:
        resolve_device("cuda")
    message = str(err.value)
    assert f"torch {torch.__version__} (CUDA {torch.version.cuda})" in message
    assert "CUDA_VISIBLE_DEVICES=GPU-1234" in message and "--gpus none" in message
    assert "\n" not in message


def test_a_cpu_trial_on_a_gpu_machine_pins_no_memory(tmp_path, data_dir, monkeypatch):
    """pin_memory follows the trial's device: a CPU trial must not open a CUDA context."""
    from runner.tracking.trial_runs import TrialTracker
    from runner.train.running import RunningTrial

    spec = tiny_spec(tmp_path, data_dir, epochs=1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine
    tracker = TrialTracker.start(uri(tmp_path), "tiny", spec)
    trial = RunningTrial(spec, tracker, torch.device("cpu"), tmp_path / "ckpt", uri(tmp_path))
    trial.setup()
    loaders = [trial.train_loader, *trial.eval_loaders.values()]
    assert [ld.pin_memory for ld in loaders] == [False] * len(loaders)
    tracker.end("FINISHED")


# --------------------------------------------------------------------------- precision


@pytest.mark.parametrize(
    "capability, amp, expected",
    [((7, 0), "auto", None), ((7, 5), "auto", None), ((8, 0), "auto", torch.bfloat16),
     ((9, 0), "auto", torch.bfloat16), ((7, 0), "bf16", torch.bfloat16), ((9, 0), "off", None)],
)  # fmt: skip
def test_amp_auto_is_bf16_only_with_bf16_tensor_cores(monkeypatch, capability, amp, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    precision = Precision.for_device(TrainConfig(amp=amp), CUDA0)
    assert precision.amp_dtype == expected and precision.channels_last
    assert Precision.for_device(TrainConfig(amp="auto"), torch.device("cpu")).amp_dtype is None


# --------------------------------------------------------------------------- checkpoints


def test_checkpoints_keep_the_trial_devices_cuda_generator_only(tmp_path, monkeypatch):
    """Saved where 4 GPUs were visible, resumed where 1 is: only the trial device's state."""
    set_calls = []
    state_of = {0: torch.full((16,), 7, dtype=torch.uint8)}

    def all_states():
        raise AssertionError("every GPU's generator: a resume that sees fewer GPUs breaks")

    monkeypatch.setattr(torch.cuda, "get_rng_state_all", all_states)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", all_states)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: state_of[device.index])
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, d: set_calls.append((s, d)))
    saved = ckpt.rng_state(CUDA0)
    ckpt.save_checkpoint(tmp_path, {"rng": saved})
    ckpt.set_rng_state(ckpt.load_checkpoint(tmp_path)["rng"], CUDA0)
    assert len(set_calls) == 1 and torch.equal(set_calls[0][0], state_of[0])
    assert set_calls[0][1] == CUDA0
    # A checkpoint written before (every visible GPU's state) resumes on its first one.
    legacy = {**saved, "cuda": [torch.zeros(16, dtype=torch.uint8)] * 4}
    ckpt.set_rng_state(legacy, CUDA0)
    assert len(set_calls) == 2
    ckpt.set_rng_state(saved, torch.device("cpu"))  # a CPU trial touches no CUDA generator
    assert len(set_calls) == 2


# --------------------------------------------------------------------------- timing and memory


def test_synchronize_and_peak_memory_ask_the_trials_device(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: calls.append(("sync", d)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: 3 * 2**20)
    synchronize(CUDA1)
    synchronize(torch.device("cpu"))
    assert calls == [("sync", CUDA1)]
    assert peak_memory_mb(CUDA1) == 3.0


def test_the_epoch_clock_is_read_after_the_device_finished(monkeypatch):
    """The clock starts and stops only after a synchronize: CUDA kernels run asynchronously."""
    events = []
    monkeypatch.setattr(loop, "synchronize", lambda device: events.append("sync"))
    monkeypatch.setattr(loop.time, "perf_counter", lambda: events.append("clock") or 0.0)
    monkeypatch.setattr(loop, "to_images", lambda batch, frontend, device: batch)
    model = nn.Module()
    model.frontend, model.backbone = nn.Identity(), nn.Linear(4, 2)
    batches = [(torch.randn(8, 4), torch.ones(8, 2)) for _ in range(3)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    cfg = TrainConfig(epochs=1, lr=0.1, milestones=(100,))
    train_one_epoch(model, batches, optimizer, cfg, torch.device("cpu"), 0, Precision(None, False))
    assert events == ["sync", "clock", "sync", "clock"]


def test_system_metrics_follow_the_childs_own_gpu(monkeypatch):
    """NVML numbers every GPU of the node: the monitor keeps the handle of the slot's GPU."""
    from runner.tracking import system_metrics

    asked = []
    fake = types.ModuleType("pynvml")
    fake.NVMLError = RuntimeError
    fake.nvmlDeviceGetHandleByIndex = lambda i: asked.append(("index", i)) or f"h{i}"
    fake.nvmlDeviceGetHandleByUUID = lambda u: asked.append(("uuid", u)) or f"h-{u}"
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monitor = types.SimpleNamespace(gpu_handles=["h0", "h1", "h2"], num_gpus=3)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-00000002-aaaa")
    system_metrics._only_visible_gpus(monitor)
    assert (monitor.gpu_handles, monitor.num_gpus) == (["h-GPU-00000002-aaaa"], 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    system_metrics._only_visible_gpus(monitor)
    assert monitor.gpu_handles == ["h1"] and asked[-1] == ("index", 1)


# --------------------------------------------------------------------------- real CPU trials


def _trial(tmp_path, data_dir, **train):
    tmp_path.mkdir(parents=True, exist_ok=True)
    spec = tiny_spec(tmp_path, data_dir, epochs=2, n_train=64)
    cfg = spec.config.to_dict()
    cfg["train"].update(deterministic=False, **train)
    spec = dataclasses.replace(spec, config=TrialConfig.from_dict(cfg))
    return run_trial(spec, tracking_uri=uri(tmp_path), device="cpu", threads=1)


def test_the_frontend_stays_float32_under_bf16_autocast(tmp_path, data_dir):
    from frontends import build_frontend

    spec = tiny_spec(tmp_path, data_dir)
    frontend = build_frontend(spec.config.frontend)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        image = frontend(torch.randn(2, 22050))
        logits = nn.Conv2d(image.shape[1], 4, 3)(image)
    assert image.dtype == torch.float32 and logits.dtype == torch.bfloat16


def test_bf16_and_channels_last_cpu_trials_log_the_same_metrics(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # as the supervisor hands a CPU slot over
    plain = _trial(tmp_path / "plain", data_dir)
    assert plain.finished, plain
    client = MlflowClient(uri(tmp_path / "plain"))
    env = json.loads(Path(client.download_artifacts(plain.run_id, "env.json")).read_text())
    assert env["cuda_visible_devices"] == "" and env["cores"] == len(os.sched_getaffinity(0))
    for train in ({"amp": "bf16"}, {"channels_last": True}):
        result = _trial(tmp_path / next(iter(train)), data_dir, **train)
        assert result.finished, (train, result)
        assert set(result.metrics) == set(plain.metrics)
        assert result.metrics["compile_time_s"] == 0.0


@pytest.mark.slow
def test_a_compiled_cpu_trial_logs_its_compile_time_apart(tmp_path, data_dir):
    """`train.compile: true` (the backbone through torch.compile): the trial finishes, and the
    compilation is `compile_time_s`, not the first epoch's training time."""
    plain = _trial(tmp_path / "plain", data_dir)
    result = _trial(tmp_path / "compiled", data_dir, compile=True)
    assert result.finished, result
    m = result.metrics
    assert set(m) == set(plain.metrics)
    epochs = [h["metrics"]["epoch_time_s"] for h in result.history]
    assert m["compile_time_s"] > 2 * max(epochs), (m["compile_time_s"], epochs)
    assert m["train_time_s"] == pytest.approx(sum(epochs))


# --------------------------------------------------------------------------- on a real GPU


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_device_generator_precision_memory_and_oom():
    from runner.train.outcome import failure_reason, oom_reason

    dev = resolve_device("cuda")
    assert dev.index == torch.cuda.current_device()
    with pytest.raises(UserError, match="this process sees"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
    torch.cuda.manual_seed(3)
    state = ckpt.rng_state(dev)
    first = torch.rand(4, device=dev)
    ckpt.set_rng_state(state, dev)
    assert torch.equal(torch.rand(4, device=dev), first)
    major = torch.cuda.get_device_capability(dev)[0]
    assert (Precision.for_device(TrainConfig(), dev).amp_dtype == torch.bfloat16) == (major >= 8)
    torch.cuda.reset_peak_memory_stats(dev)
    block = torch.empty(64 * 2**20, dtype=torch.uint8, device=dev)
    synchronize(dev)
    assert peak_memory_mb(dev) >= 64
    del block
    total = torch.cuda.get_device_properties(dev).total_memory
    with pytest.raises(torch.cuda.OutOfMemoryError) as err:
        torch.empty(2 * total, dtype=torch.uint8, device=dev)
    assert failure_reason(err.value) == ("FAILED", "oom")
    assert oom_reason(dev).startswith(f"oom: out of memory on {dev}")
