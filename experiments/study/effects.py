"""Effects of the study's findings: differences with CIs pooled over seeds, against baselines,
with their power, and the verdict rule (see :mod:`experiments.study.findings`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from activation_store.core.configs import config_from_dict
from activation_store.core.errors import InputError
from activation_store.core.stats import (
    PairedComparison,
    PromptValues,
    compare_with_group,
    mean_difference,
    mean_over,
    paired_comparison,
    percentile_among,
)
from experiments.steering.runs.config import CONFIG_KINDS
from experiments.steering.runs.rundir import RunDir
from experiments.steering.runs.summary import run_values

ALPHA = 0.05
"""Significance level of the verdicts' permutation tests."""
BASELINE_QUANTILE = 0.95
"""An effect beats its baselines when it lies beyond this share of their own effects."""
MDE_SE = 2.80
"""z(1 − α/2) + z(0.8): the smallest effect detectable at 80 % power, in standard errors."""


@dataclass(frozen=True, kw_only=True)
class Effect(PairedComparison):
    """A difference with its 95 % CI, pooled over seeds, named, with each seed's own.

    ``n`` counts the prompts (steering) or seeds (probes) it rests on.
    """

    label: str
    per_seed: list[dict[str, float]] = field(default_factory=list)
    percentile: float | None = None
    """Against a group of baselines: the share of the baselines' own effects below this one."""
    n_baselines: int | None = None
    """Against a group of baselines: how many (over all seeds)."""
    mde: float | None = None
    """Smallest true effect detectable at 80 % power, α = 0.05 (2.8 standard errors)."""

    def __post_init__(self) -> None:
        if self.mde is None and math.isfinite(self.hi - self.lo):
            object.__setattr__(self, "mde", MDE_SE * (self.hi - self.lo) / (2 * 1.96))


def run_values_at(path: Path, metric: str) -> dict[str, PromptValues]:
    """cell → prompt → value of ``metric`` in one steering or ablation run directory."""
    return run_values_of(path, (metric,))[metric]


def run_values_of(path: Path, metrics: Sequence[str]) -> dict[str, dict[str, PromptValues]]:
    """metric → cell → prompt → value for each of ``metrics``, reading the run once."""
    if not (path / "plan.json").is_file():
        raise InputError(
            f"{str(path)!r} is not a finished steering run (no plan.json); run the study first"
        )
    run = RunDir(path)
    saved = run.read_json("config.json")
    config = config_from_dict(CONFIG_KINDS[saved["kind"]], saved["config"], where=str(path))
    values = run_values(run, config)
    return {m: dict(values.get(m, {})) for m in metrics}


def pooled(label: str, per_seed: dict[int, PromptValues]) -> Effect:
    """Per-prompt differences averaged over seeds; bootstrap CI over prompts."""
    seeds = [s for s, d in per_seed.items() if d]
    if not seeds:
        return Effect(label=label, diff=math.nan, lo=math.nan, hi=math.nan, p_value=None, n=0)
    prompts = sorted(set.intersection(*(set(per_seed[s]) for s in seeds)))
    rows = []
    for s in seeds:
        d = per_seed[s]
        c = paired_comparison(list(d.values()), [0.0] * len(d))
        rows.append({"seed": s, "diff": c.diff, "lo": c.lo, "hi": c.hi, "n": c.n})
    mean = [float(np.mean([per_seed[s][p] for s in seeds])) for p in prompts]
    c = paired_comparison(mean, [0.0] * len(mean))
    return Effect(
        label=label, diff=c.diff, lo=c.lo, hi=c.hi, p_value=c.p_value, n=c.n, per_seed=rows
    )


def verdict(effects: Sequence[Effect], want: int) -> str:
    """yes: every CI on the wanted side, every permutation p < α, every baseline percentile beyond
    :data:`BASELINE_QUANTILE`; no: a CI on the other side; else inconclusive."""
    signs = [e.sign() for e in effects]
    if any(s == -want for s in signs):
        return "no"
    significant = all(e.p_value is None or e.p_value < ALPHA for e in effects)
    beyond = all(
        e.percentile is None
        or (
            e.percentile >= BASELINE_QUANTILE if want > 0 else e.percentile <= 1 - BASELINE_QUANTILE
        )
        for e in effects
    )
    if signs and all(s == want for s in signs) and significant and beyond:
        return "yes"
    return "inconclusive"


def versus_baselines(
    label: str,
    effect_by_seed: dict[int, PromptValues],
    baselines_by_seed: dict[int, list[PromptValues]],
    reference_by_seed: dict[int, PromptValues],
) -> Effect:
    """An effect against every seed's baselines at once (see the module docstring): per prompt,
    the effect averaged over seeds minus the mean of all baselines, with a hierarchical bootstrap
    over prompts and baselines; the percentile compares the change from the reference (unsteered,
    unablated) with each baseline's change from its own seed's reference."""
    seeds = [s for s, v in effect_by_seed.items() if v]
    group = [b for s in seeds for b in baselines_by_seed.get(s, []) if b]
    if not seeds or not group:
        return Effect(label=label, diff=math.nan, lo=math.nan, hi=math.nan, p_value=None, n=0)
    effect = mean_over([effect_by_seed[s] for s in seeds])
    reference = mean_over([reference_by_seed[s] for s in seeds])
    result = compare_with_group(effect, group)
    if result is None:
        return Effect(label=label, diff=math.nan, lo=math.nan, hi=math.nan, p_value=None, n=0)
    null = [
        mean_difference(b, reference_by_seed[s])
        for s in seeds
        for b in baselines_by_seed.get(s, [])
        if b
    ]
    rows = []
    for s in seeds:
        own = compare_with_group(effect_by_seed[s], baselines_by_seed.get(s, []))
        if own is not None:
            rows.append({"seed": s, "diff": own.diff, "lo": own.lo, "hi": own.hi, "n": own.n})
    return Effect(
        label=label,
        diff=result.diff,
        lo=result.lo,
        hi=result.hi,
        p_value=result.p_value,
        n=result.n,
        per_seed=rows,
        percentile=percentile_among(mean_difference(effect, reference), null),
        n_baselines=len(null),
    )


def fmt(e: Effect) -> str:
    p = f", p = {e.p_value:.2g}" if e.p_value is not None else ""
    return f"{e.diff:+.3f} [{e.lo:+.3f}, {e.hi:+.3f}]{p}"


def percentile_note(e: Effect, what: str) -> str:
    if e.percentile is None or not math.isfinite(e.percentile):
        return ""
    return f" (at the {100 * e.percentile:.0f}th percentile of {e.n_baselines} {what})"


def unchanged_verdict(effect: Effect, reference: Effect, share: float) -> tuple[str, float]:
    """Is ``effect`` (the base model's change) negligible beside ``reference`` (the reasoner's)?

    The margin is ``share × |reference|``: yes when the whole CI lies within ±margin, no when
    the whole CI lies beyond it (on either side) and the permutation test agrees (p < α),
    inconclusive otherwise — so a wide CI around zero, or a reasoner that did not move either,
    is not read as "unchanged". Returns the verdict and the margin."""
    margin = share * abs(reference.diff)
    if margin > 0 and -margin <= effect.lo and effect.hi <= margin:
        return "yes", margin
    significant = effect.p_value is None or effect.p_value < ALPHA
    if (effect.lo > margin or effect.hi < -margin) and significant:
        return "no", margin
    return "inconclusive", margin


def power_note(e: Effect) -> str:
    if e.mde is None or not math.isfinite(e.mde):
        return ""
    return f"; smallest detectable difference {e.mde:.3f} (80 % power)"
