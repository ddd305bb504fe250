"""The findings' statistics: pooling per-prompt effects over seeds, and honest verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.study.effects import Effect, pooled, unchanged_verdict, verdict


def test_pooling_averages_each_prompt_over_seeds_before_resampling() -> None:
    per_seed = {
        0: {f"p{i}": 1.0 + 0.01 * i for i in range(20)},
        1: {f"p{i}": 3.0 - 0.01 * i for i in range(20)},
        2: {"p0": 100.0},  # a seed missing most prompts leaves only the shared ones
    }
    effect = pooled("x", {0: per_seed[0], 1: per_seed[1]})
    assert math.isclose(effect.diff, 2.0) and effect.n == 20
    assert effect.lo <= 2.0 <= effect.hi and [r["seed"] for r in effect.per_seed] == [0, 1]
    assert pooled("x", per_seed).n == 1


def test_an_empty_comparison_is_nan_not_zero() -> None:
    effect = pooled("x", {0: {}})
    assert math.isnan(effect.diff) and effect.n == 0 and effect.sign() == 0


def test_verdict_needs_every_interval_on_the_claimed_side() -> None:
    up, flat, down = (
        Effect(label="a", diff=1, lo=0.5, hi=1.5, p_value=None, n=9),
        Effect(label="b", diff=0.2, lo=-0.1, hi=0.5, p_value=None, n=9),
        Effect(label="c", diff=-1, lo=-2, hi=-0.1, p_value=None, n=9),
    )
    assert verdict([up, up], +1) == "yes"
    assert verdict([up, flat], +1) == "inconclusive"
    assert verdict([up, down], +1) == "no"
    assert verdict([down], -1) == "yes"
    assert verdict([], +1) == "inconclusive"


def test_yes_needs_significance_and_beating_the_baselines_percentile() -> None:
    def effect(**kw: object) -> Effect:
        values = {"label": "x", "diff": 1.0, "lo": 0.5, "hi": 1.5, "p_value": 0.01, "n": 9}
        values.update(kw)
        return Effect(**values)  # type: ignore[arg-type]

    assert verdict([effect()], +1) == "yes"
    assert verdict([effect(p_value=0.08)], +1) == "inconclusive"  # CI and permutation disagree
    assert verdict([effect(percentile=0.9, n_baselines=20)], +1) == "inconclusive"
    assert verdict([effect(percentile=0.97, n_baselines=20)], +1) == "yes"
    drop = effect(diff=-1.0, lo=-1.5, hi=-0.5, percentile=0.02, n_baselines=20)
    assert verdict([drop], -1) == "yes"
    assert verdict([effect(diff=-1.0, lo=-1.5, hi=-0.5)], +1) == "no"
    assert effect().mde == pytest.approx(2.8 * 1.0 / (2 * 1.96))  # power: 2.8 standard errors


def test_baselines_of_every_seed_are_pooled_with_their_spread() -> None:
    from experiments.study.effects import versus_baselines

    prompts = [f"p{i}" for i in range(30)]
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.2, size=30)
    effect = {s: {p: 1.0 + n for p, n in zip(prompts, noise, strict=True)} for s in (0, 1)}
    reference = {s: dict.fromkeys(prompts, 0.0) for s in (0, 1)}
    baselines = {
        s: [{p: shift + n for p, n in zip(prompts, noise, strict=True)} for shift in shifts]
        for s, shifts in ((0, (0.0, 0.4, 0.8)), (1, (0.2, 0.6, 1.4)))
    }
    e = versus_baselines("x", effect, baselines, reference)
    assert e.n_baselines == 6 and e.diff == pytest.approx(
        1.0 - np.mean([0, 0.4, 0.8, 0.2, 0.6, 1.4])
    )
    assert e.percentile == pytest.approx(5 / 6)  # one baseline (1.4) beats it
    assert len(e.per_seed) == 2 and e.lo < e.diff < e.hi
    assert verdict([e], +1) == "inconclusive"


def test_unchanged_needs_the_whole_interval_inside_a_margin_of_the_reasoners_change() -> None:
    def e(lo: float, hi: float) -> Effect:
        return Effect(label="base", diff=(lo + hi) / 2, lo=lo, hi=hi, p_value=None, n=9)

    reasoner = Effect(label="reasoner", diff=4.0, lo=3.0, hi=5.0, p_value=None, n=9)
    # a precise but tiny shift is "unchanged" (margin 0.25 × 4 = 1)
    assert unchanged_verdict(e(-0.12, -0.11), reasoner, 0.25) == ("yes", 1.0)
    # a wide interval around zero is not evidence of "unchanged"
    assert unchanged_verdict(e(-2.0, 2.0), reasoner, 0.25)[0] == "inconclusive"
    # a change as large as the reasoner's, either way, is "changed"
    assert unchanged_verdict(e(1.5, 3.0), reasoner, 0.25)[0] == "no"
    assert unchanged_verdict(e(-3.0, -1.2), reasoner, 0.25)[0] == "no"
    # beyond the margin by its CI, but the permutation test disagrees: not "changed" either
    shaky = Effect(label="base", diff=2.0, lo=1.5, hi=3.0, p_value=0.08, n=9)
    assert unchanged_verdict(shaky, reasoner, 0.25)[0] == "inconclusive"
    # a reasoner that did not move leaves nothing to compare with
    still = Effect(label="reasoner", diff=0.0, lo=-0.1, hi=0.1, p_value=None, n=9)
    assert unchanged_verdict(e(0.0, 0.0), still, 0.25)[0] == "inconclusive"
