"""Q1 and Q2 of the findings: the base-derived direction steered into the reasoner and, as the
control, into the base model (decision points first, free generation beside them)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from activation_store.core.stats import (
    PromptValues,
    difference,
)
from experiments.steering.runs.plan import cell_id
from experiments.study import decision_findings
from experiments.study.answers import QUESTIONS, Answer
from experiments.study.config import StudyConfig
from experiments.study.effects import (
    ALPHA,
    Effect,
    fmt,
    percentile_note,
    pooled,
    power_note,
    run_values_of,
    unchanged_verdict,
    verdict,
    versus_baselines,
)
from experiments.study.stages import sweep_direction_names


def steering_answers(config: StudyConfig, study: Path) -> tuple[Answer, Answer, dict[str, Any]]:
    """Q1 and Q2 from every seed's sweep, plus the pooled α curves for the figure."""
    alpha, metric = config.headline_alpha, config.metric
    steered_by_seed: dict[int, PromptValues] = {}
    randoms_by_seed: dict[int, list[PromptValues]] = {}
    unsteered_by_seed: dict[int, PromptValues] = {}
    vs_tokens: dict[str, dict[int, PromptValues]] = {}
    reasoner_vs_unsteered: dict[int, PromptValues] = {}
    base_vs_unsteered: dict[int, PromptValues] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    base_unsteered: list[float] = []
    no_error: dict[int, PromptValues] = {}
    no_error_rates: dict[str, list[float]] = {"unsteered": [0.0, 0.0], "steered": [0.0, 0.0]}
    for seed in config.seeds:
        values = run_values_of(study / f"seed{seed}" / f"sweep-s{seed}", (metric, *NO_ERROR))
        v = values[metric]
        names = sweep_direction_names(config, seed)
        randoms = [n for k, n in names.items() if k.startswith("random")]
        tokens = {k: n for k, n in names.items() if k.startswith(("embed-", "unembed-"))}
        steered = v.get(cell_id("reasoner", "add", names["base_dom"], alpha), {})
        steered_by_seed[seed] = steered
        randoms_by_seed[seed] = [v.get(cell_id("reasoner", "add", r, alpha), {}) for r in randoms]
        unsteered_by_seed[seed] = v.get(cell_id("reasoner", "none", "unsteered"), {})
        for role, name in tokens.items():
            vs_tokens.setdefault(role, {})[seed] = difference(
                steered, v.get(cell_id("reasoner", "add", name, alpha), {})
            )
        reasoner_vs_unsteered[seed] = difference(
            steered, v.get(cell_id("reasoner", "none", "unsteered"), {})
        )
        base_unsteered += list(v.get(cell_id("base", "none", "unsteered"), {}).values())
        base_vs_unsteered[seed] = difference(
            v.get(cell_id("base", "add", names["base_dom"], alpha), {}),
            v.get(cell_id("base", "none", "unsteered"), {}),
        )
        _add_curves(curves, v, config, names, randoms, seed)
        no_error[seed] = _no_error_difference(
            values,
            cell_id("reasoner", "add", names["base_dom"], alpha),
            cell_id("reasoner", "none", "unsteered"),
            no_error_rates,
        )
    q1_effects = [
        versus_baselines(
            "reasoner: base direction − random directions",
            steered_by_seed,
            randoms_by_seed,
            unsteered_by_seed,
        )
    ]
    q1_effects += [pooled(f"reasoner: base direction − {role}", d) for role, d in vs_tokens.items()]
    raw = pooled("reasoner: base direction − unsteered", reasoner_vs_unsteered)
    free = (
        f"at α = {alpha:g} × mean residual norm, {metric} per generation changes by {fmt(raw)} vs "
        f"unsteered; vs random directions {fmt(q1_effects[0])}"
        f"{percentile_note(q1_effects[0], 'random directions')}"
        + "".join(f"; vs {e.label.split('− ')[-1]} {fmt(e)}" for e in q1_effects[1:])
    )
    after_right = pooled(
        "reasoner: base direction − unsteered, backtracks after a right step", no_error
    )
    free += "; " + _no_error_note(after_right, no_error_rates)
    q1_effects_free = [*q1_effects, raw, after_right]
    base = pooled("base model: base direction − unsteered", base_vs_unsteered)
    base_text = f"the base model's {metric} per generation changes by {fmt(base)} at α = {alpha:g}"
    if decision_findings.available(config, study):
        # the primary metric decides; free-generation counts are reported beside it
        e = decision_findings.decision_evidence(config, study)
        primary = [e.vs_random, *e.vs_tokens]
        q1 = Answer(
            "q1",
            QUESTIONS["q1"],
            verdict(primary, +1),
            decision_findings.decision_summary(e, alpha)
            + power_note(e.vs_random)
            + f". In free generation (secondary): {free}",
            [*primary, e.vs_unsteered, *e.by_split, *q1_effects_free],
        )
        q2_verdict, margin = unchanged_verdict(e.base, e.vs_unsteered, config.base_unchanged_share)
        q2 = Answer(
            "q2",
            QUESTIONS["q2"],
            q2_verdict,
            f"on the reasoner's own traces, teacher-forced at the same decision points, the base "
            f"model's opener log-odds change by {fmt(e.base)}"
            + f"; the reasoner's by {fmt(e.vs_unsteered)}"
            + _margin_note(q2_verdict, margin, config.base_unchanged_share)
            + power_note(e.base)
            + f". In free generation on its own prompt format (secondary): {base_text}"
            + _floor_note(base_unsteered),
            [e.base, e.vs_unsteered, base, raw],
        )
        return q1, q2, {**curves, "decisions": e.curves, "matched_kl": e.matched_kl}
    q1 = Answer(
        "q1",
        QUESTIONS["q1"],
        verdict(q1_effects, +1),
        free + power_note(q1_effects[0]) + " (free generation; no decision-point runs)",
        q1_effects_free,
    )
    q2_verdict, margin = unchanged_verdict(base, raw, config.base_unchanged_share)
    q2 = Answer(
        "q2",
        QUESTIONS["q2"],
        q2_verdict,
        base_text
        + f"; in the reasoner the same direction changes it by {fmt(raw)}"
        + _margin_note(q2_verdict, margin, config.base_unchanged_share)
        + _floor_note(base_unsteered)
        + power_note(base),
        [base, raw],
    )
    return q1, q2, curves


NO_ERROR = ("backtracking_after_right_step", "right_steps")
"""The free-generation metrics of P(backtrack | no error): backtracks after a correct step, and
correct steps."""


def _no_error_difference(
    values: dict[str, dict[str, PromptValues]],
    steered: str,
    unsteered: str,
    rates: dict[str, list[float]],
) -> PromptValues:
    """Per prompt, steered − unsteered backtracks right after a correct step (from a sweep's
    ``values``); adds each cell's (backtracks, right steps) totals to ``rates``."""
    after, steps = (values[m] for m in NO_ERROR)
    for key, cell in (("steered", steered), ("unsteered", unsteered)):
        rates[key][0] += sum(after.get(cell, {}).values())
        rates[key][1] += sum(steps.get(cell, {}).values())
    return difference(after.get(steered, {}), after.get(unsteered, {}))


def _no_error_note(effect: Effect, rates: dict[str, list[float]]) -> str:
    """Free generation's P(backtrack | no error): backtracks right after a correct step."""

    def p(key: str) -> str:
        backtracks, steps = rates[key]
        return f"{backtracks / steps:.3f} of {steps:.0f}" if steps else "no correct steps"

    return (
        f"backtracks right after a step whose arithmetic is correct (no error to catch) change by "
        f"{fmt(effect)} per generation; P(backtrack | correct step) {p('unsteered')} unsteered, "
        f"{p('steered')} steered (pooled over prompts and seeds)"
    )


def _margin_note(verdict: str, margin: float, share: float) -> str:
    """How Q2's verdict reads its margin (± share × the reasoner's change)."""
    m = f"±{margin:.3f} = {share:g} × the reasoner's change"
    return {
        "yes": f" (the base model's CI lies within {m}: unchanged)",
        "no": f" (the base model's CI lies beyond {m}, with p < {ALPHA:g}: changed)",
        "inconclusive": f" (the base model's CI is neither within {m} nor, with p < {ALPHA:g}, "
        "beyond it)",
    }[verdict]


def _floor_note(unsteered: Sequence[float]) -> str:
    """Says so when the unsteered base model (almost) never backtracks: it then cannot drop."""
    rate = float(np.mean(unsteered)) if unsteered else math.nan
    if rate < 0.02:
        return (
            f" (unsteered, the base model scores {rate:.3f}: at this floor the control can only "
            "show a rise, not a fall)"
        )
    return f" (unsteered base: {rate:.3f})"


def _add_curves(
    curves: dict[str, dict[str, list[float]]],
    v: dict[str, PromptValues],
    config: StudyConfig,
    names: dict[str, str],
    randoms: list[str],
    seed: int,
) -> None:
    """Per seed, the mean metric at each α for the headline figure (averaged over seeds later)."""
    alphas = sorted(config.alphas)
    for model in ("reasoner", "base"):
        for label, name in (
            ("base direction", names["base_dom"]),
            ("reasoner direction", names["reasoner_dom"]),
        ):
            curves.setdefault(f"{model}: {label}", {})[str(seed)] = [
                _cell_mean(v, model, name, a) for a in alphas
            ]
        curves.setdefault(f"{model}: random", {})[str(seed)] = [
            float(np.nanmean([_cell_mean(v, model, r, a) for r in randoms])) for a in alphas
        ]


def _cell_mean(v: dict[str, PromptValues], model: str, name: str, alpha: float) -> float:
    cell = cell_id(model, "none", "unsteered") if alpha == 0 else cell_id(model, "add", name, alpha)
    values = list(v.get(cell, {}).values())
    return float(np.mean(values)) if values else math.nan
