"""Splits: named ones from the data, or seeded multi-label stratified K-fold over recordings.

K-fold uses iterative stratification (Sechidis, Tsoumakas & Vlahavas, "On the stratification of
multi-label data", ECML PKDD 2011), applied to *groups* (recordings) rather than clips, so that
clips cut from one recording never land in two folds. A group carries the label counts of all its
clips; the rarest label is placed first, each of its groups going to the fold that still wants
that label most (ties: the fold that wants the most clips overall, then a seeded coin).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_folds(counts: np.ndarray, sizes: Sequence[int], k: int, seed: int) -> np.ndarray:
    """Assign each group to one of `k` folds.

    Args:
        counts: `(groups, classes)` int, how many of a group's clips carry each class.
        sizes: `(groups,)` clips per group.
        k: number of folds (>= 2).
        seed: ties are broken by a generator seeded with this; same inputs -> same folds.

    Returns:
        `(groups,)` int64 fold numbers in 0..k-1.
    """
    counts = np.asarray(counts, dtype=np.float64)
    sizes_arr = np.asarray(sizes, dtype=np.float64)
    n_groups = counts.shape[0]
    rng = np.random.default_rng(seed)
    want = np.tile(
        counts.sum(axis=0) / k, (k, 1)
    )  # (k, classes) label counts each fold still wants
    want_size = np.full(k, sizes_arr.sum() / k)  # (k,) clips each fold still wants
    fold = np.full(n_groups, -1, dtype=np.int64)
    # A random order first, then larger groups first (stable): big groups are the hard to place.
    order = rng.permutation(n_groups)
    order = order[np.argsort(-sizes_arr[order], kind="stable")]

    def place(g: int, label: int | None) -> None:
        keys = [rng.random(k), want_size]
        if label is not None:
            keys.append(want[:, label])
        j = int(np.lexsort(keys)[-1])  # the last key decides first: label, then size, then coin
        fold[g] = j
        want[j] -= counts[g]
        want_size[j] -= sizes_arr[g]

    while True:
        left = counts[fold < 0].sum(axis=0)  # (classes,) labels not yet placed
        live = np.flatnonzero(left > 0)
        if live.size == 0:
            break
        rarest = live[left[live] == left[live].min()]
        label = int(rng.choice(rarest))
        for g in order:
            if fold[g] < 0 and counts[g, label] > 0:
                place(int(g), label)
    for g in order:  # groups with no label at all: balance the fold sizes
        if fold[g] < 0:
            place(int(g), None)
    return fold
