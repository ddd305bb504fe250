"""Confidence intervals over prompts and paired tests against a baseline.

Prompts are the unit of resampling: seeds of one prompt are averaged first, so a CI says how much
the mean would move with another draw of prompts like these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from activation_store.errors import InputError


@dataclass(frozen=True)
class Estimate:
    """A mean over prompts with its confidence interval."""

    mean: float
    lo: float
    hi: float
    n: int
    """Number of prompts."""
    method: str
    """``bootstrap`` (percentile) or ``wilson`` (binomial proportion)."""


@dataclass(frozen=True)
class PairedComparison:
    """``mean(a − b)`` over prompts, its bootstrap CI and a two-sided sign-flip permutation p-value."""

    diff: float
    lo: float
    hi: float
    p_value: float
    n: int


def _values(values: Sequence[float] | NDArray[np.floating]) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) == 0:
        raise InputError("need at least one value per prompt to estimate a mean")
    return array


def bootstrap_mean(
    values: Sequence[float] | NDArray[np.floating],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Mean with a percentile-bootstrap CI (resampling prompts with replacement, seeded)."""
    x = _values(values)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_resamples, len(x)))].mean(axis=1)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return Estimate(float(x.mean()), float(lo), float(hi), len(x), "bootstrap")


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> Estimate:
    """Proportion with the Wilson score interval (good at 0 and 1, unlike the normal one)."""
    if n <= 0:
        raise InputError("a proportion needs at least one trial")
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n, "wilson")


def paired_comparison(
    a: Sequence[float] | NDArray[np.floating],
    b: Sequence[float] | NDArray[np.floating],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Compare ``a`` with ``b`` prompt by prompt (same prompts, same order)."""
    x, y = _values(a), _values(b)
    if len(x) != len(y):
        raise InputError(
            f"paired comparison needs the same prompts on both sides ({len(x)} vs {len(y)})"
        )
    d = x - y
    est = bootstrap_mean(d, n_resamples=n_resamples, confidence=confidence, seed=seed)
    rng = np.random.default_rng(seed + 1)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_resamples, len(d)))
    null = np.abs((signs * d).mean(axis=1))
    p_value = (1 + int((null >= abs(d.mean()) - 1e-12).sum())) / (n_resamples + 1)
    return PairedComparison(est.mean, est.lo, est.hi, float(p_value), len(d))
