"""Average precision, MAP, micro AP, file-level MAP, ROC-AUC, cmap5 and top-1, checked against
scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from runner.train.metrics import (
    average_precision,
    chance_map,
    evaluate_scores,
    label_prior_map,
    max_per_file,
    mean_average_precision,
    micro_average_precision,
    roc_auc,
    top1_accuracy,
)


def sklearn_ap(y: np.ndarray, s: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-negative columns warn
        return float(average_precision_score(y, s))


@pytest.mark.parametrize("seed", range(40))
def test_ap_equals_sklearn_with_ties_and_empty_classes(seed):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 80)), int(rng.integers(2, 9))
    # Half the cases draw scores from a handful of values: many ties inside and across labels.
    scores = rng.integers(0, 4, (n, c)).astype(float) if seed % 2 else rng.normal(size=(n, c))
    targets = (rng.random((n, c)) < rng.uniform(0.05, 0.7)).astype(int)
    targets[:, 0] = 0  # a class with no positive in this set
    ap = average_precision(scores, targets)
    assert np.isnan(ap[0])
    present = targets.sum(0) > 0
    for j in np.flatnonzero(present):
        assert ap[j] == pytest.approx(sklearn_ap(targets[:, j], scores[:, j]), abs=1e-12)
    if present.any():
        expected = np.mean(
            [sklearn_ap(targets[:, j], scores[:, j]) for j in np.flatnonzero(present)]
        )
        assert mean_average_precision(scores, targets) == pytest.approx(expected, abs=1e-12)
        assert micro_average_precision(scores, targets) == pytest.approx(
            sklearn_ap(targets.ravel(), scores.ravel()), abs=1e-12
        )
    else:
        assert np.isnan(mean_average_precision(scores, targets))


def test_ap_by_hand():
    # Ranking: p(0.9) n(0.8) p(0.7) n(0.7): tied at 0.7 -> AP = 1/2 * (1 + 2/4) = 0.75
    scores = np.array([0.9, 0.8, 0.7, 0.7])
    targets = np.array([1, 0, 1, 0])
    assert average_precision(scores, targets)[0] == pytest.approx(0.75)
    # A perfect ranking and a constant score (AP = prevalence).
    assert average_precision(np.array([3.0, 2.0, 1.0]), np.array([1, 1, 0]))[0] == 1.0
    assert average_precision(np.zeros(4), np.array([1, 0, 0, 0]))[0] == pytest.approx(0.25)


def test_map_leaves_out_classes_without_positives_not_counting_them_as_zero():
    scores = np.array([[0.9, 0.1], [0.1, 0.2]])
    targets = np.array([[1, 0], [0, 0]])
    assert mean_average_precision(scores, targets) == 1.0


def test_file_level_map_max_aggregates_windows():
    # File 0 has two windows; its label is present in the second one only.
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.1]])
    targets = np.array([[0, 1], [1, 0], [0, 1]])
    file_ids = np.array([0, 0, 1])
    assert max_per_file(scores, file_ids).tolist() == [[0.8, 0.9], [0.3, 0.1]]
    m = evaluate_scores(scores, targets, file_ids)
    # Files: class 0 -> scores (0.8, 0.3), targets (1, 0): AP 1; class 1 -> (0.9, 0.1), (1, 1): AP 1
    assert m.file_map == 1.0
    assert m.map == pytest.approx(np.mean([1.0, sklearn_ap(targets[:, 1], scores[:, 1])]))
    assert m.n_positive.tolist() == [1, 2]
    assert set(m.as_dict("test")) == {
        "map_test", "micro_ap_test", "file_map_test", "auc_test", "cmap5_test", "top1_test",
        "classes_in_map_test", "classes_in_cmap5_test", "classes_without_positive_test",
    }  # fmt: skip
    # One window per file: no file-level MAP (it would repeat the window MAP).
    assert evaluate_scores(scores, targets, np.arange(3)).file_map is None


def test_label_prior_map_is_the_mean_prevalence():
    rng = np.random.default_rng(0)
    train = (rng.random((500, 5)) < 0.3).astype(float)
    test = (rng.random((200, 5)) < np.linspace(0.1, 0.5, 5)).astype(float)
    assert label_prior_map(train, test) == pytest.approx(test.mean(0).mean())


@pytest.mark.parametrize("seed", range(30))
def test_roc_auc_and_cmap5_equal_sklearn_on_multilabel_data_with_empty_classes(seed):
    rng = np.random.default_rng(100 + seed)
    n, c = int(rng.integers(8, 120)), int(rng.integers(3, 12))
    scores = rng.integers(0, 5, (n, c)).astype(float) if seed % 2 else rng.normal(size=(n, c))
    targets = (rng.random((n, c)) < rng.uniform(0.05, 0.5)).astype(int)
    targets[:, 0] = 0  # no positive: no AUC, no AP; left out and counted
    targets[:, 1] = 1  # no negative: no AUC
    auc = roc_auc(scores, targets)
    assert np.isnan(auc[0]) and np.isnan(auc[1])
    scorable = [j for j in range(c) if 0 < targets[:, j].sum() < n]
    for j in scorable:
        assert auc[j] == pytest.approx(roc_auc_score(targets[:, j], scores[:, j]), abs=1e-12)
    m = evaluate_scores(scores, targets)
    if scorable:  # scikit-learn's macro average over the same classes
        expected = roc_auc_score(targets[:, scorable], scores[:, scorable], average="macro")
        assert m.auc == pytest.approx(expected, abs=1e-12)
    frequent = [j for j in range(c) if targets[:, j].sum() >= 5]
    if frequent:
        expected = np.mean([sklearn_ap(targets[:, j], scores[:, j]) for j in frequent])
        assert m.cmap5 == pytest.approx(expected, abs=1e-12)
    else:
        assert np.isnan(m.cmap5)
    d = m.as_dict("test")
    assert d["classes_in_cmap5_test"] == len(frequent)
    assert d["classes_without_positive_test"] == (targets.sum(0) == 0).sum() >= 1
    assert d["classes_in_map_test"] == c - d["classes_without_positive_test"]
    assert "top1_test" not in d  # multi-label data (and an all-positive class): no top-1


@pytest.mark.parametrize("seed", range(10))
def test_top1_equals_sklearn_accuracy_on_single_label_data(seed):
    rng = np.random.default_rng(200 + seed)
    n, c = int(rng.integers(5, 60)), int(rng.integers(2, 8))
    labels = rng.integers(0, c, n)
    targets = np.eye(c, dtype=int)[labels]
    scores = rng.normal(size=(n, c)) + 1.5 * targets * rng.random((n, 1))
    expected = accuracy_score(labels, scores.argmax(axis=1))
    assert top1_accuracy(scores, targets) == pytest.approx(expected)
    assert evaluate_scores(scores, targets).as_dict("x")["top1_x"] == pytest.approx(expected)


def test_top1_is_undefined_unless_every_clip_has_exactly_one_label():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.4]])
    assert top1_accuracy(scores, np.array([[1, 0], [0, 1], [1, 1]])) is None
    assert top1_accuracy(scores, np.array([[1, 0], [0, 1], [0, 0]])) is None
    assert top1_accuracy(scores, np.array([[1, 0], [0, 1], [0, 1]])) == pytest.approx(2 / 3)


def test_chance_map_is_the_mean_ap_over_every_ordering():
    import itertools

    targets = np.array([[1, 0, 1], [0, 0, 1], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
    maps = [
        mean_average_precision(np.array(order, dtype=float)[:, None] * np.ones((1, 3)), targets)
        for order in itertools.permutations(range(5))
    ]
    assert chance_map(targets) == pytest.approx(np.mean(maps), abs=1e-12)
    # Above the label-prior MAP (every item tied) when classes have few positives.
    assert chance_map(targets) > label_prior_map(targets, targets)
