"""Confidence intervals and paired tests against closed forms and numpy one-liners."""

from __future__ import annotations

import numpy as np
import pytest

from activation_store.errors import InputError
from experiments.steering.stats import bootstrap_mean, paired_comparison, wilson_interval


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
