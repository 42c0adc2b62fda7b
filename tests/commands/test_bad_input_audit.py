"""Every bad input of the last audit, one row each: exit code 2, one line, no traceback, the key
(or flag, or file and line) named, and what to do. Fast: the CLI in this process on real files
(sweep files, manifests, WAVs, a real folder where a file belongs); a traceback would escape
`main` and fail the row.

The promises behind the rows live in runner/sweep (safe_yaml, limits, grid, datacheck),
runner/data/manifest.py, runner/servers/remote.py (tracking URI schemes) and
runner/train/predict.py (its outputs, checked before the model is loaded).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers.audio import write_csv, write_tone
from helpers.filesystems import small_filesystem

from runner.cli import main


def sweep_file(tmp_path: Path, text: str | bytes, name: str = "bad.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return name


def sections(**extra) -> str:
    return yaml.safe_dump({"name": "bad", **extra}, sort_keys=False)


def manifest_sweep(tmp_path: Path, rows: list[list[str]], *, raw: str | None = None) -> str:
    """A sweep over a manifest of real tones; `raw` replaces the CSV's text."""
    for name, freq in (("x.wav", 440.0), ("y.wav", 880.0), ("z.wav", 660.0)):
        write_tone(tmp_path / name, 1.0, freq_hz=freq)
    if raw is None:
        write_csv(tmp_path / "m.csv", ["path", "labels", "split"], rows)
    else:
        (tmp_path / "m.csv").write_text(raw)
    data = {"kind": "manifest", "manifest": "m.csv", "clip_s": 0.5, "cache_dir": "cache"}
    frontend = {"sample_rate": 8000, "win_length": 256, "hop_length": 128, "n_mels": 32}
    return sweep_file(tmp_path, sections(data=data, frontend=frontend, eval={"sets": ["test"]}))


# (id, how to make the case in tmp_path -> the command's arguments, what the line must name)
CASES = [
    ("seed-negative", lambda t: ["plan", sweep_file(t, sections(seeds=[-1]))], ["seeds: -1"]),
    (
        "seed-2**64",
        lambda t: ["plan", sweep_file(t, sections(seeds=[2**64]))],
        ["seeds: 18446744073709551616", "2**64"],
    ),
    (
        "duplicate-name",
        lambda t: ["plan", sweep_file(t, "name: a\nname: b\n")],
        ["bad.yaml", "'name' is given twice", "lines 1 and 2"],
    ),
    (
        "duplicate-section",
        lambda t: ["plan", sweep_file(t, "name: a\ntrain:\n  epochs: 2\ntrain:\n  epochs: 3\n")],
        ["'train' is given twice", "lines 2 and 4"],
    ),
    (
        "billion-clips",
        lambda t: ["plan", sweep_file(t, sections(data={"synthetic": {"n_train": 10**9}}))],
        ["data.synthetic.n_train", "1,000,000,000", "limit"],
    ),
    (
        "epochs-10**12",
        lambda t: ["plan", sweep_file(t, sections(train={"epochs": 10**12}))],
        ["train.epochs", "limit"],
    ),
    (
        "exclude-matches-nothing-strict",
        lambda t: [
            "plan",
            "--strict",
            sweep_file(
                t,
                sections(
                    grid={
                        "axes": {"frontend.scale": ["mel", "linear"]},
                        "exclude": [{"frontend.scale": "bark"}],
                    }
                ),
            ),
        ],
        ["bad.yaml", "grid.exclude[0]", "matches no point", "--strict"],
    ),
    (
        "not-utf8",
        lambda t: ["plan", sweep_file(t, b"name: a\n# caf\xe9\n")],
        ["bad.yaml", "line 2", "UTF-8", "iconv"],
    ),
    (
        "sample-rate-1e9",
        lambda t: ["plan", sweep_file(t, sections(frontend={"sample_rate": 10**9}))],
        ["frontend.sample_rate", "384,000"],
    ),
    (
        "linked-by-missing-axis",
        lambda t: [
            "plan",
            sweep_file(
                t,
                sections(
                    grid={
                        "axes": {"frontend.hop_length": [128, 256]},
                        "linked": {
                            "frontend.image_size": {
                                "by": "frontend.hop",
                                "values": {128: [[64, 64]], 256: [[64, 32]]},
                            }
                        },
                    }
                ),
            ),
        ],
        ["grid.linked.frontend.image_size.by", "link to one of: frontend.hop_length"],
    ),
    (
        "pretrained-true",
        lambda t: ["plan", sweep_file(t, "name: a\nmodel:\n  pretrained: true\n")],
        ["model.pretrained", "none, imagenet"],
    ),
    (
        "show-nosuch",
        lambda t: ["plan", sweep_file(t, sections()), "--show", "nosuch"],
        ["--show nosuch", "specsweep plan"],
    ),
    (
        "uri-scheme-plan",
        lambda t: ["plan", sweep_file(t, sections(tracking={"uri": "gopher://x"}))],
        ["tracking.uri", "gopher://", "sqlite:///"],
    ),
    (
        "uri-scheme-report",
        lambda t: ["report", "--experiment", "x", "--tracking-uri", "gopher://x"],
        ["gopher://", "http(s)://"],
    ),
    (
        "uri-scheme-ui",
        lambda t: ["ui", "--experiment", "x", "--tracking-uri", "gopher://x"],
        ["gopher://"],
    ),
    (
        "uri-scheme-sweep",
        lambda t: ["sweep", sweep_file(t, sections()), "--tracking-uri", "gopher://x"],
        ["gopher://"],
    ),
    (
        "uri-scheme-predict",
        lambda t: ["predict", "m", "a.wav", "--tracking-uri", "gopher://x"],
        ["gopher://"],
    ),
    (
        "uri-scheme-export",
        lambda t: ["export", "m", "--onnx", str(t / "m.onnx"), "--tracking-uri", "gopher://x"],
        ["gopher://"],
    ),
    (
        "slots-100000",
        lambda t: ["sweep", sweep_file(t, sections()), "--slots", "100000"],
        ["slots: 100,000", "--allow-large"],
    ),
    (
        "jobs-per-gpu-1000",
        lambda t: ["sweep", sweep_file(t, sections()), "--jobs-per-gpu", "1000"],
        ["jobs_per_gpu: 1,000", "--jobs-per-gpu", "--allow-large"],
    ),
    (
        "predict-out-is-a-folder",
        lambda t: ["predict", "m", "a.wav", "--out", str(t)],
        ["--out", "is a folder", "scores.csv"],
    ),
    (
        "predict-out-unwritable",
        lambda t: ["predict", "m", "a.wav", "--out", "/proc/version/scores.csv"],
        ["--out /proc/version/scores.csv", "cannot write"],
    ),
    (
        "predict-raven-is-a-file",
        lambda t: ["predict", "m", "a.wav", "--raven", sweep_file(t, "x", "tables.txt")],
        ["--raven tables.txt", "is a file", "folder"],
    ),
    (
        "manifest-extra-cells",
        lambda t: [
            "plan",
            "--check-data",
            manifest_sweep(t, [], raw="path,labels,split\nx.wav,a,train,x,y\ny.wav,a,test\n"),
        ],
        ["m.csv line 2", "2 cell(s) more", "3 columns"],
    ),
    (
        "manifest-open-quote",
        lambda t: [
            "plan",
            "--check-data",
            manifest_sweep(t, [], raw='path,labels,split\n"x.wav,a,train\ny.wav,a,test\n'),
        ],
        ["m.csv line 2", "double quote", "left open"],
    ),
    (
        "manifest-is-a-folder",
        lambda t: ["plan", "--check-data", _folder_manifest(t)],
        ["is a folder", "data.manifest"],
    ),
    (
        "labels-spelled-two-ways-strict",
        lambda t: [
            "plan",
            "--check-data",
            "--strict",
            manifest_sweep(
                t,
                [["x.wav", "noca", "train"], ["y.wav", "NOCA", "train"], ["z.wav", "noca", "test"]],
            ),
        ],
        ["'NOCA', 'noca'", "differ only in case", "--strict"],
    ),
    (
        "label-with-a-comma-strict",
        lambda t: [
            "plan",
            "--check-data",
            "--strict",
            manifest_sweep(
                t,
                [
                    ["x.wav", "amro,noca", "train"],
                    ["y.wav", "amro", "train"],
                    ["z.wav", "amro", "test"],
                ],
            ),
        ],
        ["'amro,noca'", "separated by ';'"],
    ),
]


def _folder_manifest(tmp_path: Path) -> str:
    (tmp_path / "m.csv").mkdir()
    data = {"kind": "manifest", "manifest": "m.csv", "clip_s": 0.5, "cache_dir": "cache"}
    return sweep_file(tmp_path, sections(data=data))


@pytest.mark.parametrize(("make", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_the_key(tmp_path, monkeypatch, capsys, make, needles):
    monkeypatch.chdir(tmp_path)
    args = make(tmp_path)
    code = main(args)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (args, out, err)
    assert len(lines) == 1 and lines[0].startswith("specsweep: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert not (tmp_path / "mlflow.db").exists()  # nothing started


def test_warnings_without_strict_are_printed_and_plan_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    grid = {"axes": {"frontend.scale": ["mel", "linear"]}, "exclude": [{"frontend.scale": "bark"}]}
    assert main(["plan", sweep_file(tmp_path, sections(grid=grid))]) == 0
    out = capsys.readouterr().out
    assert "warning: bad.yaml: grid.exclude[0]: matches no point" in out
    assert "2 configurations" in out


def test_a_manifest_cell_over_csvs_default_limit_is_read(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    long_label = "x" * 200_000  # csv's default field limit is 131,072 characters
    rows = [["x.wav", f"a;{long_label}", "train"], ["y.wav", "a", "train"], ["z.wav", "a", "test"]]
    assert main(["plan", "--check-data", manifest_sweep(tmp_path, rows)]) == 0, capsys.readouterr()


def test_predict_never_replaces_an_output_when_nothing_was_scored(tmp_path, monkeypatch, capsys):
    """A mistyped audio path: the file is counted as unreadable, the model is never needed to
    decide that, and an existing --out keeps its rows. (Scoring itself: test_logged_models.)"""
    from runner.train.predict import ScoresCsv

    out = tmp_path / "scores.csv"
    out.write_text("file,start_s,end_s,a\nold.wav,0,1,0.5\n")
    csv_out = ScoresCsv(out, ("a",))
    csv_out.close(keep=False)
    assert out.read_text() == "file,start_s,end_s,a\nold.wav,0,1,0.5\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]  # no temporary file left
    csv_out = ScoresCsv(out, ("a",))
    csv_out.close(keep=True)
    assert out.read_text() == "file,start_s,end_s,a\n"


def test_a_full_disk_while_building_the_audio_cache_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rows = [["x.wav", "a", "train"], ["y.wav", "b", "train"], ["z.wav", "a", "test"]]
    name = manifest_sweep(tmp_path, rows)
    with small_filesystem(tmp_path / "cache", "16k"):  # 3 s of float32 audio at 8 kHz: 96 KB
        code = main(["plan", "--check-data", name])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err, err
    assert err == (
        f"specsweep: disk full at {tmp_path / 'cache'}: free space and run the same command again"
    )
    assert main(["plan", "--check-data", name]) == 0  # space freed: the same command works
