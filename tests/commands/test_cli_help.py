"""The command line's own manners: `--version`, examples at the end of every `--help`, one name
for the sweep file argument, and messages that name the command the user typed.

Parsing is tested in this process (`runner.cli.build_parser`); the module entry points that users
type as `python -m ...` run in a fresh process, as users run them.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from runner.cli import SUBCOMMANDS, build_parser, main


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"specsweep {importlib.metadata.version('specsweep')}"


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_help_ends_with_examples_of_that_command(capsys, command):
    text = _help(capsys, command)
    examples = text.split("examples:\n", 1)
    assert len(examples) == 2, f"specsweep {command} --help has no examples"
    lines = [line.strip() for line in examples[1].splitlines() if line.strip()]
    assert lines and all(line.startswith(f"specsweep {command}") for line in lines), lines
    # the examples are the epilog only, not repeated in the description above it
    assert f"\n  specsweep {command}" not in examples[0]


def test_the_top_level_help_has_examples(capsys):
    text = _help(capsys)
    assert "examples:\n  specsweep plan sweeps/demo.yaml" in text


@pytest.mark.parametrize("command", ["plan", "trial", "sweep", "probe", "report", "ui"])
def test_the_sweep_file_argument_has_one_name(command):
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]  # argparse keeps no public handle
    usage = sub.format_usage()
    assert "SWEEP.yaml" in usage, usage
    # and no other spelling of it (`sweep`, `SWEEP`) after the command's own name
    words = usage.split()[3:]
    assert not {"sweep", "SWEEP", "[sweep]"} & set(words), usage


def test_ui_without_a_sweep_names_ui_not_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPECSWEEP_TRACKING_URI", raising=False)
    assert main(["ui", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("specsweep: error: ui: which sweep? ")
    assert "specsweep ui sweeps/demo.yaml" in err
    assert "report" not in err


def test_report_without_a_sweep_still_names_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 2
    assert capsys.readouterr().err.startswith("specsweep: error: report: which sweep? ")


def test_synthetic_help_names_the_module_users_type():
    out = subprocess.run(
        [sys.executable, "-m", "runner.data.synthetic", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("usage: python -m runner.data.synthetic ")
    assert "synthetic.py" not in out
    assert "examples:\n    python -m runner.data.synthetic " in out
    assert "python -m runner.data.synthetic --sheet species.png" in out
