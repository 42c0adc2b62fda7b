"""Average precision, MAP, micro AP and file-level MAP, checked against scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from runner.metrics import (
    average_precision,
    evaluate_scores,
    label_prior_map,
    max_per_file,
    mean_average_precision,
    micro_average_precision,
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
    assert set(m.as_dict("test")) == {"map_test", "micro_ap_test", "file_map_test"}
    # One window per file: no file-level MAP (it would repeat the window MAP).
    assert evaluate_scores(scores, targets, np.arange(3)).file_map is None


def test_label_prior_map_is_the_mean_prevalence():
    rng = np.random.default_rng(0)
    train = (rng.random((500, 5)) < 0.3).astype(float)
    test = (rng.random((200, 5)) < np.linspace(0.1, 0.5, 5)).astype(float)
    assert label_prior_map(train, test) == pytest.approx(test.mean(0).mean())
