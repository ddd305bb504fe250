"""The toolkit's statistics: estimates with confidence intervals, paired comparisons, bootstraps.

One home for every number-with-an-interval the toolkit reports — probes (trace-bootstrap CIs of
AUROC), steering and ablation summaries (CIs over prompts, paired tests against a baseline), the
organism's acceptance figures and the study's findings:

- :class:`Estimate` — a mean (or any point value) with its interval;
- :class:`PairedComparison` — a difference ``a − b`` with its interval and a sign-flip p-value;
- :data:`PromptValues` — prompt id → value, the unit every steering comparison pairs on.

Prompts (or traces) are the unit of resampling: seeds of one prompt are averaged first, so a CI
says how much the mean would move with another draw of prompts like these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from activation_store.core.errors import InputError

PromptValues = dict[str, float]
"""Prompt id → value (e.g. backtracking sentences per generation, averaged over seeds)."""


@dataclass(frozen=True)
class Estimate:
    """A point value (usually a mean) with its confidence interval (NaN when there is none)."""

    mean: float
    lo: float = math.nan
    hi: float = math.nan
    n: int = 0
    """Units it rests on (prompts, traces, problems); 0 when not counted."""
    method: str = ""
    """``bootstrap`` (percentile), ``wilson`` (binomial proportion), or empty (no interval)."""


@dataclass(frozen=True)
class PairedComparison:
    """``mean(a − b)`` over paired units, its CI and a two-sided sign-flip p-value (None: not
    tested)."""

    diff: float
    lo: float
    hi: float
    p_value: float | None
    n: int

    def sign(self) -> int:
        """+1 if the CI lies above 0, −1 if below, else 0."""
        return 1 if self.lo > 0 else -1 if self.hi < 0 else 0


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


def bootstrap_ratio(
    num: Sequence[float], den: Sequence[float], *, n_resamples: int = 2000, seed: int = 0
) -> Estimate | None:
    """``sum(num) / sum(den)`` with a percentile-bootstrap CI over units (None if no ``den``)."""
    x, y = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    if y.sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_resamples, len(x)))
    sums = y[idx].sum(axis=1)
    ratios = x[idx].sum(axis=1)[sums > 0] / sums[sums > 0]
    lo, hi = np.quantile(ratios, [0.025, 0.975])
    return Estimate(float(x.sum() / y.sum()), float(lo), float(hi), len(x), "bootstrap")


def percentile_interval(
    point: float, replicates: NDArray[np.float64] | None, *, confidence: float = 0.95
) -> Estimate:
    """``point`` with the percentile interval of its bootstrap ``replicates`` (NaN-free ones).

    No replicates (or none finite) gives the point alone, with a NaN interval.
    """
    if replicates is None or replicates.size == 0:
        return Estimate(point)
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return Estimate(point)
    tail = round(50 * (1 - confidence), 10)  # 2.5 exactly for 95 %
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return Estimate(point, float(lo), float(hi), int(finite.size), "bootstrap")


def bootstrap_counts(n_groups: int, n_boot: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """``[n_boot, n_groups]``: how often each group is drawn in each resample of ``n_groups``
    groups (a resample as weights, so one sort of the scores serves every replicate)."""
    return rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot).astype(
        np.float64
    )


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
    """Compare ``a`` with ``b`` unit by unit (same units, same order)."""
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


def compare_prompts(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> PairedComparison | None:
    """:func:`paired_comparison` of ``a − b`` over the prompts both have (None if they share
    none), in prompt-id order."""
    shared = sorted(set(a) & set(b))
    if not shared:
        return None
    return paired_comparison(
        [a[p] for p in shared],
        [b[p] for p in shared],
        n_resamples=n_resamples,
        confidence=confidence,
    )


def difference(a: Mapping[str, float], b: Mapping[str, float]) -> PromptValues:
    """Per prompt, ``a − b`` over the prompts both have (in prompt-id order)."""
    return {p: a[p] - b[p] for p in sorted(set(a) & set(b))}


def mean_difference(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """The mean of :func:`difference` (NaN when the two share no prompt)."""
    d = list(difference(a, b).values())
    return float(np.mean(d)) if d else math.nan


def mean_over(cells: Sequence[Mapping[str, float]]) -> PromptValues:
    """Per prompt, the mean over several cells (e.g. the random directions), over the prompts
    every cell has (in prompt-id order)."""
    shared = set.intersection(*(set(c) for c in cells)) if cells else set()
    return {p: float(np.mean([c[p] for c in cells])) for p in sorted(shared)}


def compare_with_group(
    a: Mapping[str, float],
    group: Sequence[Mapping[str, float]],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison | None:
    """``a − mean(group)`` per prompt, averaged, with a CI from a hierarchical bootstrap that
    resamples the group's members (e.g. random directions) *and* the prompts.

    A comparison with the mean of several baselines that treats that mean as fixed ignores how much
    the baselines disagree among themselves; resampling them too puts that spread into the CI.
    The p-value is the prompt-level sign-flip test of :func:`paired_comparison` on the same
    differences. Prompts are those that ``a`` and every member share, in id order; None if none.
    """
    members = [m for m in group if m]
    shared = sorted(set(a).intersection(*(set(m) for m in members))) if members else []
    if not shared:
        return None
    x = np.array([a[p] for p in shared])
    g = np.array([[m[p] for p in shared] for m in members])  # [n_members, n_prompts]
    point = paired_comparison(x, g.mean(axis=0), n_resamples=n_resamples, seed=seed)
    rng = np.random.default_rng(seed + 2)
    n_m, n_p = g.shape
    pick_m = rng.integers(0, n_m, size=(n_resamples, n_m))
    pick_p = rng.integers(0, n_p, size=(n_resamples, n_p))
    baseline = g[pick_m].mean(axis=1)  # [n_resamples, n_prompts]: resampled members' mean
    rows = np.arange(n_resamples)[:, None]
    means = (x[pick_p] - baseline[rows, pick_p]).mean(axis=1)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return PairedComparison(point.diff, float(lo), float(hi), point.p_value, n_p)


def percentile_among(value: float, null: Sequence[float]) -> float:
    """Where ``value`` falls among ``null`` (e.g. each random direction's effect): the share of
    them below it, ties counting half, in [0, 1]; NaN without a null."""
    values = np.asarray([v for v in null if np.isfinite(v)], dtype=np.float64)
    if not len(values) or not np.isfinite(value):
        return math.nan
    return float(((values < value).sum() + 0.5 * (values == value).sum()) / len(values))


def versus_group(
    a: Mapping[str, float],
    group: Sequence[Mapping[str, float]],
    reference: Mapping[str, float],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> dict[str, float | int | None] | None:
    """``a`` against the mean of ``group`` as JSON: :func:`compare_with_group`'s difference and
    CI, ``n_group``, and ``percentile``: where ``a``'s mean change from ``reference`` falls among
    the members' own changes from it (:func:`percentile_among`). None if they share no prompt."""
    import dataclasses

    result = compare_with_group(a, group, n_resamples=n_resamples, confidence=confidence)
    if result is None:
        return None
    null = [mean_difference(m, reference) for m in group if m]
    return {
        **dataclasses.asdict(result),
        "n_group": len(null),
        "percentile": percentile_among(mean_difference(a, reference), null),
    }
