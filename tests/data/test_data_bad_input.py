"""Every bad input: an error naming the file and row, or (on_bad_audio: skip) skipped and counted."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
from helpers.audio import RAVEN_HEADER, SR, manifest_cfg, write_csv, write_tone

from runner.data import DataConfig, KFoldConfig, RavenConfig, load_dataset
from runner.errors import UserError

HEADER = ["path", "labels", "split"]


def good_rows(tmp_path):
    rows = []
    for split in ("train", "test"):
        for label in ("a", "b"):
            rel = f"{split}-{label}.wav"
            write_tone(tmp_path / rel, 0.5)
            rows.append([rel, label, split])
    return rows


def make_bad(tmp_path, kind):
    """Write the bad file for `kind`; return its manifest row."""
    p = tmp_path / f"bad-{kind}.wav"
    if kind == "missing_file":
        pass
    elif kind == "unreadable":
        p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio at all" * 10)
    elif kind == "empty":
        sf.write(p, np.zeros(0, dtype=np.float32), SR)
    elif kind == "silent":
        sf.write(p, np.zeros(SR // 2, dtype=np.float32), SR)
    elif kind == "nan":
        x = np.full(SR // 2, 0.1, dtype=np.float32)
        x[100] = np.nan
        sf.write(p, x, SR, subtype="FLOAT")
    return [p.name, "a", "train"]


BAD_AUDIO = ["missing_file", "unreadable", "empty", "silent", "nan"]


@pytest.mark.parametrize("kind", BAD_AUDIO)
def test_bad_audio_error_names_file_and_row(tmp_path, kind):
    rows = [*good_rows(tmp_path), make_bad(tmp_path, kind)]
    m = write_csv(tmp_path / "m.csv", HEADER, rows)
    with pytest.raises(UserError) as err:
        load_dataset(manifest_cfg(tmp_path, m, clip_s=0.5), SR, ("test",), seed=0)
    msg = str(err.value)
    assert f"{m} line 6" in msg and f"bad-{kind}.wav" in msg
    assert "on_bad_audio: skip" in msg  # says how to proceed
    if kind != "missing_file":
        assert kind in msg


@pytest.mark.parametrize("kind", BAD_AUDIO)
def test_bad_audio_skipped_and_counted(tmp_path, kind, caplog):
    rows = [*good_rows(tmp_path), make_bad(tmp_path, kind)]
    m = write_csv(tmp_path / "m.csv", HEADER, rows)
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(
            manifest_cfg(tmp_path, m, clip_s=0.5, on_bad_audio="skip"), SR, ("test",), seed=0
        )
    assert ds.skipped == {kind: 1}
    assert len(ds.train) == 2
    assert any(f"left out 1 items: 1 {kind}" in r.getMessage() for r in caplog.records)


def test_error_mode_after_a_skip_mode_build_still_raises(tmp_path):
    rows = [*good_rows(tmp_path), make_bad(tmp_path, "nan")]
    m = write_csv(tmp_path / "m.csv", HEADER, rows)
    load_dataset(manifest_cfg(tmp_path, m, clip_s=0.5, on_bad_audio="skip"), SR, ("test",), seed=0)
    with pytest.raises(UserError, match=r"line 6: .*bad-nan\.wav: nan: 1 of 4000 samples"):
        load_dataset(manifest_cfg(tmp_path, m, clip_s=0.5), SR, ("test",), seed=0)


def test_unknown_label(tmp_path):
    rows = [*good_rows(tmp_path), ["train-a.wav", "a;bb", "test"]]
    m = write_csv(tmp_path / "m.csv", HEADER, rows)
    cfg = manifest_cfg(tmp_path, m, clip_s=0.5, classes=("a", "b"))
    with pytest.raises(
        UserError, match=r"m\.csv line 6: label 'bb' is not in data\.classes \(did you mean 'b'\?\)"
    ):
        load_dataset(cfg, SR, ("test",), seed=0)
    skip = manifest_cfg(tmp_path, m, clip_s=0.5, classes=("a", "b"), on_bad_audio="skip")
    assert load_dataset(skip, SR, ("test",), seed=0).skipped == {"unknown_label": 1}


def test_duplicate_rows(tmp_path):
    rows = good_rows(tmp_path)
    m = write_csv(tmp_path / "m.csv", HEADER, [*rows, rows[0]])
    with pytest.raises(
        UserError,
        match=r"m\.csv line 6: duplicate row \(same path and segment as .*m\.csv line 2\)",
    ):
        load_dataset(manifest_cfg(tmp_path, m, clip_s=0.5), SR, ("test",), seed=0)
    ds = load_dataset(
        manifest_cfg(tmp_path, m, clip_s=0.5, on_bad_audio="skip"), SR, ("test",), seed=0
    )
    assert ds.skipped == {"duplicate": 1} and len(ds.train) == 2


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (["path", "split"], r"missing column\(s\) labels; the header has path, split"),
        (["file", "labels"], r"missing column\(s\) path"),
        (["path", "labels", "start_s"], r"only one of start_s/end_s"),
        (["path", "labels", "split", "fold"], r"both split and fold"),
        (["path", "labels", "splt"], r"unknown column 'splt'; did you mean 'split'\?"),
    ],
)
def test_manifest_columns(tmp_path, header, match):
    write_tone(tmp_path / "x.wav", 0.5)
    m = write_csv(tmp_path / "m.csv", header, [["x.wav", "a", "train", "0"][: len(header)]])
    with pytest.raises(UserError, match=match):
        load_dataset(
            manifest_cfg(tmp_path, m, clip_s=0.5, on_bad_audio="skip"), SR, ("test",), seed=0
        )


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (["x.wav", "a", "soon", "1", "train"], r"line 2: start_s 'soon' is not a number"),
        (["x.wav", "a", "0.4", "0.2", "train"], r"line 2: end_s 0.2 is not after start_s 0.4"),
        (["x.wav", "a", "0.1", "", "train"], r"line 2: give both start_s and end_s"),
        (["", "a", "", "", "train"], r"line 2: the path cell is empty"),
        (["x.wav", "a", "", "", ""], r"line 2: the split cell is empty"),
    ],
)
def test_manifest_bad_cells(tmp_path, row, match):
    write_tone(tmp_path / "x.wav", 0.5)
    m = write_csv(tmp_path / "m.csv", ["path", "labels", "start_s", "end_s", "split"], [row])
    with pytest.raises(UserError, match=match):
        load_dataset(manifest_cfg(tmp_path, m, clip_s=0.5), SR, ("test",), seed=0)


def test_segment_outside_the_file(tmp_path):
    rows = [[r[0], r[1], "", "", r[2]] for r in good_rows(tmp_path)] + [
        ["train-a.wav", "a", "0.2", "2.0", "train"]
    ]
    m = write_csv(tmp_path / "m.csv", ["path", "labels", "start_s", "end_s", "split"], rows)
    with pytest.raises(
        UserError, match=r"line 6: segment 0.2-2.0 s is outside .*train-a\.wav, which lasts 0.500 s"
    ):
        load_dataset(manifest_cfg(tmp_path, m, clip_s=0.5), SR, ("test",), seed=0)
    ds = load_dataset(
        manifest_cfg(tmp_path, m, clip_s=0.5, on_bad_audio="skip"), SR, ("test",), seed=0
    )
    assert ds.skipped == {"segment_out_of_range": 1}


def test_eval_split_with_no_clips(tmp_path):
    m = write_csv(tmp_path / "m.csv", HEADER, good_rows(tmp_path))
    with pytest.raises(
        UserError,
        match=r"split 'field' \(named in eval\) has no clips; the data has test \(2 rows\), train \(2 rows\)",
    ):
        load_dataset(manifest_cfg(tmp_path, m, clip_s=0.5), SR, ("test", "field"), seed=0)
    with pytest.raises(
        UserError, match=r"split 'training' \(named in data\.train_split\) has no clips"
    ):
        load_dataset(
            manifest_cfg(tmp_path, m, clip_s=0.5, train_split="training"), SR, ("test",), seed=0
        )


def test_class_with_no_training_example(tmp_path):
    rows = [*good_rows(tmp_path), ["test-a.wav", "c", "test"]]
    rows[-1][0] = "extra.wav"
    write_tone(tmp_path / "extra.wav", 0.5)
    m = write_csv(tmp_path / "m.csv", HEADER, rows)
    with pytest.raises(
        UserError, match=r"class\(es\) 'c' have no training example in split 'train'"
    ):
        load_dataset(
            manifest_cfg(tmp_path, m, clip_s=0.5, on_bad_audio="skip"), SR, ("test",), seed=0
        )


def test_class_whose_only_training_file_is_bad(tmp_path):
    rows = [*good_rows(tmp_path), make_bad(tmp_path, "silent")]
    rows[-1][1] = "c"
    write_tone(tmp_path / "test-c.wav", 0.5)
    rows.append(["test-c.wav", "c", "test"])
    m = write_csv(tmp_path / "m.csv", HEADER, rows)
    with pytest.raises(UserError, match=r"'c' have no training example"):
        load_dataset(
            manifest_cfg(tmp_path, m, clip_s=0.5, on_bad_audio="skip"), SR, ("test",), seed=0
        )


def test_manifest_not_found(tmp_path):
    with pytest.raises(UserError, match=r"nope\.csv: manifest not found"):
        load_dataset(manifest_cfg(tmp_path, tmp_path / "nope.csv"), SR, ("test",), seed=0)


def raven_cfg(tmp_path, **kwargs):
    return DataConfig(
        kind="raven",
        cache_dir=str(tmp_path / "cache"),
        raven=RavenConfig(tables=str(tmp_path), **kwargs),
    )


def test_raven_table_missing_a_column(tmp_path):
    write_tone(tmp_path / "r.wav", 3.0)
    header = [h for h in RAVEN_HEADER if h != "High Freq (Hz)"]
    write_csv(
        tmp_path / "r.Table.1.selections.txt",
        header,
        [[1, "Spectrogram 1", 1, "0", "1", "1", "x"]],
        delimiter="\t",
    )
    with pytest.raises(
        UserError,
        match=r"r\.Table\.1\.selections\.txt: Raven table is missing column\(s\) 'High Freq \(Hz\)'",
    ):
        load_dataset(raven_cfg(tmp_path), SR, ("test",), seed=0)
    with pytest.raises(UserError, match=r"missing column\(s\) 'High Freq \(Hz\)', 'Sp'"):
        load_dataset(raven_cfg(tmp_path, species_column="Sp"), SR, ("test",), seed=0)


def test_raven_comma_separated_table_is_explained(tmp_path):
    write_tone(tmp_path / "r.wav", 3.0)
    write_csv(
        tmp_path / "r.Table.1.selections.txt",
        RAVEN_HEADER,
        [[1, "Spectrogram 1", 1, "0", "1", "1", "2", "x"]],
    )
    with pytest.raises(UserError, match=r"is it tab-separated\?"):
        load_dataset(raven_cfg(tmp_path), SR, ("test",), seed=0)


def test_raven_missing_recording_and_bad_rows(tmp_path):
    write_csv(
        tmp_path / "gone.Table.1.selections.txt",
        RAVEN_HEADER,
        [[1, "Spectrogram 1", 1, "0", "1", "1", "2", "x"]],
        delimiter="\t",
    )
    with pytest.raises(
        UserError, match=r"gone\.Table\.1\.selections\.txt: audio file .*gone\.wav not found"
    ):
        load_dataset(raven_cfg(tmp_path), SR, ("test",), seed=0)
    (tmp_path / "gone.Table.1.selections.txt").unlink()
    write_tone(tmp_path / "r.wav", 3.0)
    rows = [[1, "Spectrogram 1", 1, "2", "1", "1", "2", "x"]]
    write_csv(tmp_path / "r.Table.1.selections.txt", RAVEN_HEADER, rows, delimiter="\t")
    with pytest.raises(
        UserError, match=r"line 2: End Time \(s\) 1.0 is not after Begin Time \(s\) 2.0"
    ):
        load_dataset(raven_cfg(tmp_path), SR, ("test",), seed=0)


def test_raven_duplicate_box_and_box_after_the_end(tmp_path):
    write_tone(tmp_path / "r.wav", 3.0)
    write_tone(tmp_path / "s.wav", 3.0)
    box = [1, "Spectrogram 1", 1, "0.5", "1.5", "1", "2", "x"]
    write_csv(
        tmp_path / "r.Table.1.selections.txt", RAVEN_HEADER, [box, [2, *box[1:]]], delimiter="\t"
    )
    late = [
        [1, "Spectrogram 1", 1, "0.5", "1.5", "1", "2", "x"],
        [2, "Spectrogram 1", 1, "4", "5", "1", "2", "x"],
    ]
    write_csv(tmp_path / "s.Table.1.selections.txt", RAVEN_HEADER, late, delimiter="\t")
    with pytest.raises(
        UserError, match=r"r\.Table\.1\.selections\.txt line 3: duplicate selection"
    ):
        load_dataset(raven_cfg(tmp_path), SR, ("test",), seed=0)
    cfg = DataConfig(kind="raven", cache_dir=str(tmp_path / "cache"), on_bad_audio="skip",
                     raven=RavenConfig(tables=str(tmp_path)), kfold=KFoldConfig(k=2))  # fmt: skip
    ds = load_dataset(cfg, SR, ("test",), seed=0)
    assert ds.skipped == {"duplicate": 1, "segment_out_of_range": 1}
