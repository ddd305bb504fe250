"""The findings' statistics: pooling per-prompt effects over seeds, and honest verdicts."""

from __future__ import annotations

import math

from experiments.study.findings import Effect, _pooled, _verdict


def test_pooling_averages_each_prompt_over_seeds_before_resampling() -> None:
    per_seed = {
        0: {f"p{i}": 1.0 + 0.01 * i for i in range(20)},
        1: {f"p{i}": 3.0 - 0.01 * i for i in range(20)},
        2: {"p0": 100.0},  # a seed missing most prompts leaves only the shared ones
    }
    effect = _pooled("x", {0: per_seed[0], 1: per_seed[1]})
    assert math.isclose(effect.diff, 2.0) and effect.n == 20
    assert effect.lo <= 2.0 <= effect.hi and [r["seed"] for r in effect.per_seed] == [0, 1]
    assert _pooled("x", per_seed).n == 1


def test_an_empty_comparison_is_nan_not_zero() -> None:
    effect = _pooled("x", {0: {}})
    assert math.isnan(effect.diff) and effect.n == 0 and effect.sign() == 0


def test_verdict_needs_every_interval_on_the_claimed_side() -> None:
    up, flat, down = (
        Effect(label="a", diff=1, lo=0.5, hi=1.5, p_value=None, n=9),
        Effect(label="b", diff=0.2, lo=-0.1, hi=0.5, p_value=None, n=9),
        Effect(label="c", diff=-1, lo=-2, hi=-0.1, p_value=None, n=9),
    )
    assert _verdict([up, up], +1) == "yes"
    assert _verdict([up, flat], +1) == "inconclusive"
    assert _verdict([up, down], +1) == "no"
    assert _verdict([down], -1) == "yes"
    assert _verdict([], +1) == "inconclusive"
