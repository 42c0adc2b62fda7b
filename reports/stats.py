"""Paired statistics for "did A beat B, beyond the seed noise?", in plain numpy.

A comparison's replicates are paired differences: MAP(A, seed s) - MAP(B, seed s) for two
configurations that differ in the compared factor only, one per (pair of configurations, seed
both finished). Every such difference counts as one replicate.

    test = paired_test([0.04, 0.05, 0.03, 0.06], noise_estimated=True)
    test.mean, test.low, test.high   # mean and its 95% Student t interval
    test.p_value                     # exact two-sided sign-flip (permutation) p-value
    test.significant                 # the interval excludes 0

With one seed per configuration the differences mix the effect with the training noise and there
is nothing to tell them apart: `noise_estimated=False`, no interval, no p-value, never
significant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95  # the intervals' coverage
ALPHA = 1.0 - LEVEL
# The sign-flip test enumerates all 2^n sign patterns up to this n (2^20 sums, in two halves);
# above it, a fixed-seed random sample of patterns.
MAX_EXACT_FLIPS = 20
RANDOM_FLIPS = 200_000


@dataclass(frozen=True)
class PairedTest:
    """What a set of paired differences says. `low`/`high`: the 95% t interval of the mean
    difference; `p_value`: two-sided sign-flip p; `p_floor`: the smallest p that test can give
    with `n` differences (2 / 2^n); all None when the noise is not estimated."""

    n: int
    mean: float
    wins: int  # differences > 0
    noise_estimated: bool
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    p_floor: float | None = None
    exact: bool = True  # the p-value enumerates every sign pattern (False: a random sample)

    @property
    def significant(self) -> bool:
        """The interval excludes 0: the difference is beyond the seed noise."""
        return self.low is not None and (self.low > 0 or self.high < 0)


def paired_test(diffs: Sequence[float], noise_estimated: bool, level: float = LEVEL) -> PairedTest:
    """Mean, t interval and sign-flip p of `diffs`; see the module docstring."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 0:
        raise ValueError("paired_test: no differences")
    base = PairedTest(
        n=int(d.size), mean=float(d.mean()), wins=int((d > 0).sum()), noise_estimated=False
    )
    if not noise_estimated or d.size < 2:
        return base
    low, high = t_interval(d, level)
    p, exact = sign_flip_p(d)
    return PairedTest(
        n=base.n,
        mean=base.mean,
        wins=base.wins,
        noise_estimated=True,
        low=low,
        high=high,
        p_value=p,
        p_floor=min(1.0, 2.0 / 2.0**d.size),
        exact=exact,
    )


def t_interval(diffs: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """`level` Student t interval of the mean: mean ± t(1 - (1 - level) / 2, n - 1) · s / √n."""
    d = np.asarray(diffs, dtype=np.float64)
    n = d.size
    if n < 2:
        raise ValueError("t_interval: needs at least two differences")
    half = t_quantile(1.0 - (1.0 - level) / 2.0, n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
    return float(d.mean()) - half, float(d.mean()) + half


def sign_flip_p(diffs: Sequence[float]) -> tuple[float, bool]:
    """Two-sided sign-flip p-value of the mean of `diffs` and whether it is exact.

    Under "no difference" each paired difference is as likely to have either sign, so the
    observed |sum| is compared with the sums of every pattern of signs: p = the share of patterns
    whose |sum| is at least as large (the observed one and its mirror always count). Exact for up
    to `MAX_EXACT_FLIPS` differences; beyond, `RANDOM_FLIPS` random patterns with seed 0 and
    p = (1 + hits) / (1 + draws).
    """
    d = np.asarray(diffs, dtype=np.float64)
    observed = abs(float(d.sum()))
    tol = 1e-12 * max(1.0, float(np.abs(d).sum()))  # sums equal up to rounding count as equal
    if d.size <= MAX_EXACT_FLIPS:
        half = d.size // 2
        sums = (_signed_sums(d[:half])[:, None] + _signed_sums(d[half:])[None, :]).ravel()
        return float(np.mean(np.abs(sums) >= observed - tol)), True
    rng = np.random.default_rng(0)
    hits = 0
    for start in range(0, RANDOM_FLIPS, 10_000):
        signs = rng.choice((-1.0, 1.0), size=(min(10_000, RANDOM_FLIPS - start), d.size))
        hits += int((np.abs(signs @ d) >= observed - tol).sum())
    return (1 + hits) / (1 + RANDOM_FLIPS), False


def _signed_sums(d: np.ndarray) -> np.ndarray:
    """The 2^len(d) sums of ±d_i (every sign pattern)."""
    if d.size == 0:
        return np.zeros(1)
    bits = (np.arange(2**d.size)[:, None] >> np.arange(d.size)[None, :]) & 1
    return (1.0 - 2.0 * bits) @ d


def t_quantile(q: float, df: int) -> float:
    """The `q` quantile of Student's t with `df` degrees of freedom (bisection on the CDF)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"t_quantile: q = {q} is not in (0, 1)")
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < q:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if t_cdf(mid, df) < q:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2.0


def t_cdf(t: float, df: float) -> float:
    """Student t CDF: 1 - I_x(df/2, 1/2) / 2 for t >= 0, with x = df / (df + t^2)."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (continued fraction, modified Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast on this side only
        return 1.0 - _betainc(b, a, 1.0 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return math.exp(log_front) * h / a
