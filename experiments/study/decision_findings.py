"""The study's primary steering evidence: the teacher-forced decision-point metric, over seeds.

From every seed's ``decisions-s{S}`` run (see :mod:`experiments.steering.runs.decisions`): the
change in the log-odds of a backtracking opener at decision points when the base-derived direction
is added to the reasoner, against every seed's random directions (hierarchical bootstrap,
percentile) and the token baselines, after right and after wrong steps separately, and the same
direction added to the base model on the same traces (the control, item by item where the
reasoner could backtrack). Also the dose-response over α and over the KL the direction costs, and
the comparison with the random directions at *matched KL* (each random direction's effect
interpolated at the KL the base direction reaches), since a direction that moves the output more
may change everything more.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from activation_store.core.stats import PromptValues, difference, percentile_among
from experiments.steering.runs.plan import cell_id
from experiments.study.config import StudyConfig
from experiments.study.effects import Effect, fmt, percentile_note, pooled, versus_baselines
from experiments.study.stages import direction_names


@dataclass(frozen=True)
class DecisionEvidence:
    """What the decision-point runs say, for Q1 (reasoner) and Q2 (base model)."""

    vs_random: Effect
    vs_tokens: list[Effect]
    vs_unsteered: Effect
    by_split: list[Effect]
    """Δ vs unsteered after right and after wrong steps."""
    base: Effect
    """The base model, same direction, same traces."""
    matched_kl: dict[str, Any]
    """The base direction's effect against the random directions at the KL it reaches."""
    curves: dict[str, Any]
    """model → label → α / Δ log-odds / KL lists, for the dose-response figure."""


def decision_dir(study: Path, seed: int) -> Path:
    return study / f"seed{seed}" / f"decisions-s{seed}"


def available(config: StudyConfig, study: Path) -> bool:
    """Whether every seed has a finished decision-point run."""
    return config.decision_points and all(
        (decision_dir(study, s) / "summary.json").is_file() for s in config.seeds
    )


def _values(study: Path, seed: int) -> dict[str, dict[str, PromptValues]]:
    from experiments.steering.runs.plan import Condition
    from experiments.steering.runs.rundir import RunDir, read_lines
    from experiments.steering.runs.summary import per_prompt

    run = RunDir(decision_dir(study, seed))
    conditions = [Condition.from_json(c) for c in run.read_json("plan.json")["conditions"]]
    return per_prompt(read_lines(run.path / "points.jsonl"), {c.id: c.cell for c in conditions})


def decision_evidence(config: StudyConfig, study: Path) -> DecisionEvidence:
    """Pool every seed's decision-point run (see the module docstring)."""
    alpha = config.headline_alpha
    steered: dict[int, PromptValues] = {}
    randoms: dict[int, list[PromptValues]] = {}
    unsteered: dict[int, PromptValues] = {}
    tokens: dict[str, dict[int, PromptValues]] = {}
    split_diffs: dict[str, dict[int, PromptValues]] = {}
    base_diff: dict[int, PromptValues] = {}
    raw: dict[int, PromptValues] = {}
    per_seed_values = {}
    for seed in config.seeds:
        values = _values(study, seed)
        per_seed_values[seed] = values
        v = values.get("log_odds", {})
        names = direction_names(config, seed)
        random_names = [n for k, n in names.items() if k.startswith("random")]
        steered[seed] = v.get(cell_id("reasoner", "add", names["base_dom"], alpha), {})
        randoms[seed] = [v.get(cell_id("reasoner", "add", r, alpha), {}) for r in random_names]
        unsteered[seed] = v.get(cell_id("reasoner", "none", "unsteered"), {})
        raw[seed] = difference(steered[seed], unsteered[seed])
        for role, name in names.items():
            if role.startswith(("embed-", "unembed-")):
                other = v.get(cell_id("reasoner", "add", name, alpha), {})
                tokens.setdefault(role, {})[seed] = difference(steered[seed], other)
        for split in ("after_right", "after_wrong"):
            s = values.get(f"log_odds_{split}", {})
            split_diffs.setdefault(split, {})[seed] = difference(
                s.get(cell_id("reasoner", "add", names["base_dom"], alpha), {}),
                s.get(cell_id("reasoner", "none", "unsteered"), {}),
            )
        base_diff[seed] = difference(
            v.get(cell_id("base", "add", names["base_dom"], alpha), {}),
            v.get(cell_id("base", "none", "unsteered"), {}),
        )
    what = "decision points, opener log-odds"
    return DecisionEvidence(
        vs_random=versus_baselines(
            f"{what}: base direction − random directions", steered, randoms, unsteered
        ),
        vs_tokens=[pooled(f"{what}: base direction − {role}", d) for role, d in tokens.items()],
        vs_unsteered=pooled(f"{what}: base direction − unsteered", raw),
        by_split=[
            pooled(f"{what}: base direction − unsteered, {split.replace('_', ' ')} step", d)
            for split, d in split_diffs.items()
        ],
        base=pooled(f"{what}: base model, base direction − unsteered", base_diff),
        matched_kl=_matched_kl(config, per_seed_values),
        curves=_curves(config, per_seed_values),
    )


def _cell_mean(values: dict[str, dict[str, PromptValues]], metric: str, cell: str) -> float:
    xs = [x for x in values.get(metric, {}).get(cell, {}).values() if math.isfinite(x)]
    return float(np.mean(xs)) if xs else math.nan


def _curves(
    config: StudyConfig, per_seed: dict[int, dict[str, dict[str, PromptValues]]]
) -> dict[str, Any]:
    """Per model and direction role: Δ log-odds vs unsteered and KL at each α, averaged over seeds
    (the random directions averaged over all of them)."""
    alphas = sorted(config.decision_alphas)
    out: dict[str, Any] = {"alphas": alphas}
    for model in ("reasoner", "base"):
        rows: dict[str, dict[str, list[float]]] = {}
        for role in ("base_dom", "reasoner_dom", "random"):
            deltas, kls = [], []
            for a in alphas:
                d_seed, k_seed = [], []
                for seed, values in per_seed.items():
                    names = direction_names(config, seed)
                    chosen = (
                        [n for k, n in names.items() if k.startswith("random")]
                        if role == "random"
                        else [names[role]]
                    )
                    base = _cell_mean(values, "log_odds", cell_id(model, "none", "unsteered"))
                    for n in chosen:
                        cell = cell_id(model, "add", n, a)
                        d_seed.append(
                            0.0 if a == 0 else _cell_mean(values, "log_odds", cell) - base
                        )
                        k_seed.append(0.0 if a == 0 else _cell_mean(values, "kl", cell))
                deltas.append(float(np.nanmean(d_seed)) if d_seed else math.nan)
                kls.append(float(np.nanmean(k_seed)) if k_seed else math.nan)
            rows[role] = {"delta_log_odds": deltas, "kl": kls}
        out[model] = rows
    return out


def _matched_kl(
    config: StudyConfig, per_seed: dict[int, dict[str, dict[str, PromptValues]]]
) -> dict[str, Any]:
    """The base direction's Δ log-odds at the headline α, and each random direction's Δ
    interpolated at the same KL along its own positive-α curve (None where its curve does not
    reach that KL)."""
    alpha = config.headline_alpha
    positive = sorted(a for a in config.decision_alphas if a > 0)
    base_delta, base_kl, matched = [], [], []
    for seed, values in per_seed.items():
        names = direction_names(config, seed)
        ref = _cell_mean(values, "log_odds", cell_id("reasoner", "none", "unsteered"))
        cell = cell_id("reasoner", "add", names["base_dom"], alpha)
        base_delta.append(_cell_mean(values, "log_odds", cell) - ref)
        base_kl.append(_cell_mean(values, "kl", cell))
        for role, name in names.items():
            if not role.startswith("random"):
                continue
            kls = [0.0] + [
                _cell_mean(values, "kl", cell_id("reasoner", "add", name, a)) for a in positive
            ]
            ds = [0.0] + [
                _cell_mean(values, "log_odds", cell_id("reasoner", "add", name, a)) - ref
                for a in positive
            ]
            matched.append(_interpolate(base_kl[-1], kls, ds))
    target = float(np.nanmean(base_delta)) if base_delta else math.nan
    finite = [m for m in matched if m is not None and math.isfinite(m)]
    return {
        "kl": float(np.nanmean(base_kl)) if base_kl else math.nan,
        "base_direction": target,
        "random_at_matched_kl": float(np.mean(finite)) if finite else None,
        "n_random_reaching_kl": len(finite),
        "n_random": len(matched),
        "percentile": percentile_among(target, finite) if finite else None,
    }


def _interpolate(x: float, xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """``y`` at ``x`` along the polyline (xs, ys) with increasing xs; None beyond its end."""
    pairs = [(a, b) for a, b in zip(xs, ys, strict=True) if math.isfinite(a) and math.isfinite(b)]
    if not math.isfinite(x) or len(pairs) < 2 or x > max(a for a, _ in pairs):
        return None
    pairs.sort()
    for (x0, y0), (x1, y1) in itertools.pairwise(pairs):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def matched_kl_note(m: dict[str, Any]) -> str:
    if m.get("random_at_matched_kl") is None:
        return f"; no random direction reaches its KL ({m.get('kl', math.nan):.3g})"
    return (
        f"; at matched KL ({m['kl']:.3g}) random directions change it by "
        f"{m['random_at_matched_kl']:+.3f} ({m['n_random_reaching_kl']} of {m['n_random']} reach "
        f"that KL; the base direction is at their {100 * m['percentile']:.0f}th percentile)"
    )


def decision_summary(e: DecisionEvidence, alpha: float) -> str:
    """One sentence of the decision-point evidence for Q1."""
    splits = "; ".join(f"{x.label.split(', ')[-1]} {fmt(x)}" for x in e.by_split if x.n)
    return (
        f"teacher-forced at decision points (primary), α = {alpha:g}: the opener log-odds change by "
        f"{fmt(e.vs_unsteered)} vs unsteered, {fmt(e.vs_random)} vs random directions"
        f"{percentile_note(e.vs_random, 'random directions')}"
        + "".join(f"; vs {t.label.split('− ')[-1]} {fmt(t)}" for t in e.vs_tokens)
        + (f" (by the step before: {splits})" if splits else "")
        + matched_kl_note(e.matched_kl)
    )
