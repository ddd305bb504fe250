"""Confidence intervals and paired tests against closed forms and numpy one-liners."""

from __future__ import annotations

import numpy as np
import pytest

from activation_store.core.errors import InputError
from activation_store.core.stats import (
    bootstrap_counts,
    bootstrap_mean,
    bootstrap_ratio,
    compare_prompts,
    compare_with_group,
    difference,
    mean_difference,
    mean_over,
    paired_comparison,
    percentile_among,
    percentile_interval,
    wilson_interval,
)


def test_bootstrap_mean_is_seeded_and_brackets_the_mean() -> None:
    x = np.random.default_rng(0).normal(2.0, 1.0, size=200)
    est = bootstrap_mean(x, n_resamples=1000)
    assert est.mean == pytest.approx(x.mean())
    assert est.lo < est.mean < est.hi
    # roughly ± 1.96 standard errors
    se = x.std(ddof=1) / np.sqrt(len(x))
    assert est.hi - est.lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert bootstrap_mean(x, n_resamples=1000) == est
    with pytest.raises(InputError):
        bootstrap_mean([])


def test_wilson_interval_known_values() -> None:
    est = wilson_interval(0, 10)
    assert est.mean == 0 and est.lo == 0
    assert est.hi == pytest.approx(0.2775, abs=1e-3)
    est = wilson_interval(5, 10)
    assert (est.lo, est.hi) == pytest.approx((0.2366, 0.7634), abs=1e-3)


def test_paired_comparison() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, size=40)
    same = paired_comparison(base, base, n_resamples=500)
    assert same.diff == 0 and same.p_value == 1.0
    shifted = paired_comparison(base + 1.0 + rng.normal(0, 0.1, 40), base, n_resamples=500)
    assert shifted.diff == pytest.approx(1.0, abs=0.1)
    assert shifted.p_value < 0.01 and shifted.lo > 0.8
    noise = paired_comparison(base + rng.normal(0, 1, 40), base, n_resamples=500)
    assert noise.p_value > 0.01
    with pytest.raises(InputError, match="same prompts"):
        paired_comparison([1.0, 2.0], [1.0])


def test_bootstrap_counts_and_intervals():
    rng = np.random.default_rng(0)
    counts = bootstrap_counts(7, 100, rng)
    assert counts.shape == (100, 7) and (counts.sum(axis=1) == 7).all()
    est = percentile_interval(0.7, np.linspace(0.6, 0.8, 1001))
    assert est.lo == pytest.approx(0.605) and est.hi == pytest.approx(0.795)
    assert np.isnan(percentile_interval(0.7, None).lo)


def test_ratio_of_sums_brackets_the_ratio() -> None:
    num, den = [1, 2, 0, 3, 1], [2, 2, 1, 4, 1]
    est = bootstrap_ratio(num, den)
    assert est is not None and est.mean == pytest.approx(7 / 10)
    assert est.lo <= est.mean <= est.hi
    assert bootstrap_ratio([1, 2], [0, 0]) is None


def test_prompt_values_pair_on_shared_prompts_in_id_order() -> None:
    a = {"p2": 3.0, "p1": 1.0, "p3": 5.0}
    b = {"p1": 0.0, "p2": 1.0}
    assert list(difference(a, b).items()) == [("p1", 1.0), ("p2", 2.0)]
    assert mean_difference(a, b) == pytest.approx(1.5)
    assert np.isnan(mean_difference(a, {"q": 1.0}))
    assert mean_over([a, b]) == {"p1": 0.5, "p2": 2.0}
    result = compare_prompts(a, b, n_resamples=200)
    assert result is not None and result.diff == pytest.approx(1.5) and result.n == 2
    assert result == paired_comparison([1.0, 3.0], [0.0, 1.0], n_resamples=200)
    assert compare_prompts(a, {"q": 1.0}) is None


def test_the_hierarchical_bootstrap_widens_the_ci_when_baselines_disagree() -> None:
    rng = np.random.default_rng(0)
    prompts = [f"p{i}" for i in range(40)]
    base = rng.normal(0, 0.3, size=40)
    a = {p: 1.0 + b for p, b in zip(prompts, base, strict=True)}
    agreeing = [{p: 0.5 + b for p, b in zip(prompts, base, strict=True)} for _ in range(6)]
    spread = [
        {p: 0.5 + shift + b for p, b in zip(prompts, base, strict=True)}
        for shift in (-0.6, -0.3, 0.0, 0.0, 0.3, 0.6)
    ]  # same mean (0.5), but the baselines disagree
    tight = compare_with_group(a, agreeing, n_resamples=2000)
    wide = compare_with_group(a, spread, n_resamples=2000)
    pooled = compare_prompts(a, mean_over(spread), n_resamples=2000)
    assert tight is not None and wide is not None and pooled is not None
    assert tight.diff == pytest.approx(0.5) and wide.diff == pytest.approx(0.5)
    assert (wide.hi - wide.lo) > 3 * (pooled.hi - pooled.lo)  # the pooled mean hides the spread
    assert (tight.hi - tight.lo) == pytest.approx(pooled.hi - pooled.lo, rel=0.5)
    assert wide.lo < tight.lo and wide.hi > tight.hi
    assert compare_with_group(a, []) is None


def test_percentile_among_the_null() -> None:
    assert percentile_among(1.0, [0.0, 0.5, 2.0, 3.0]) == 0.5
    assert percentile_among(5.0, [0.0, 1.0]) == 1.0
    assert percentile_among(1.0, [1.0, 1.0]) == 0.5
    assert np.isnan(percentile_among(1.0, []))
