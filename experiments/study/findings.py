"""The study's four questions, answered over its seeds with 95 % CIs and an honest verdict.

1. Does the base-derived direction raise backtracking in the reasoner above norm-matched random
   directions and token-embedding directions?
2. Does it leave the base model's backtracking unchanged?
3. Do probes read out upcoming backtracking above chance at negative offsets, beyond a
   token-identity baseline?
4. Does ablating k directions lower backtracking more than ablating one, and more than random
   k-subspaces?

Seeds are repeated measures of the same held-out prompts: a prompt's value is averaged over the
seeds before anything is compared, and prompts are the unit of resampling. Comparisons with the
random directions (Q1) and random subspaces (Q4) pool every seed's baselines (each seed draws its
own) and use a hierarchical bootstrap over prompts *and* baselines, so the baselines' spread is in
the CI, and say where the effect falls among the baselines' own effects (``percentile``). Probe
figures are pooled over seeds from each seed's bootstrap CI, treating the seeds as fully
correlated (they share the derivation prompts: the pooled interval is as wide as one seed's).

A verdict is "yes" only when every CI it rests on excludes zero in the claimed direction, every
sign-flip permutation p-value it has is below 0.05 and, against baselines, the effect lies beyond
their 95th percentile (5th for a drop); "no" when a CI excludes zero the other way; otherwise
"inconclusive". Every effect states its power as ``mde``: the smallest true effect its CI would
detect at 80 % power and α = 0.05 (2.8 standard errors, read off the CI's half-width).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from activation_store.core.configs import config_from_dict
from activation_store.core.errors import InputError
from activation_store.core.stats import (
    PromptValues,
    difference,
    mean_difference,
    mean_over,
)
from experiments.steering.runs.plan import cell_id
from experiments.study import decision_findings
from experiments.study.capability import Capability, capability_checks, capability_lines
from experiments.study.config import StudyConfig
from experiments.study.effects import (
    ALPHA,
    Effect,
    fmt,
    percentile_note,
    pooled,
    power_note,
    run_values_at,
    unchanged_verdict,
    verdict,
    versus_baselines,
)
from experiments.study.ground_truth import ground_truth, ground_truth_lines
from experiments.study.stages import ablation_names, sweep_direction_names

QUESTIONS = {
    "q1": "Does the base-derived direction raise backtracking in the reasoner above norm-matched "
    "random directions and token-embedding directions?",
    "q2": "Does it leave the base model's backtracking unchanged?",
    "q3": "Do probes read out upcoming backtracking above chance at negative offsets, beyond a "
    "token-identity baseline?",
    "q4": "Does ablating k directions lower backtracking more than ablating one, and more than "
    "random k-subspaces?",
}


@dataclass(frozen=True)
class Answer:
    key: str
    question: str
    verdict: str
    """yes, no or inconclusive."""
    summary: str
    """One sentence with the numbers."""
    effects: list[Effect]


@dataclass(frozen=True)
class Findings:
    answers: list[Answer]
    seeds: list[int]
    path: Path
    figure: Path | None
    ground_truth: dict[str, Any] | None = None
    """The planted mechanism's criteria (:mod:`experiments.study.ground_truth`), if any."""
    capability: list[Capability] = field(default_factory=list)
    """Does each direction cost the reasoner its answers (:mod:`experiments.study.capability`)."""

    def lines(self) -> list[str]:
        out = [f"findings over seeds {self.seeds} → {self.path}"]
        if self.ground_truth is not None:
            out += ground_truth_lines(self.ground_truth)
        for a in self.answers:
            out.append(f"{a.key.upper()} {a.question}")
            out.append(f"    {a.verdict.upper()}: {a.summary}")
        return out + capability_lines(self.capability)


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
        sweep = study / f"seed{seed}" / f"sweep-s{seed}"
        v = run_values_at(sweep, metric)
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
            sweep,
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


def _no_error_difference(
    sweep: Path, steered: str, unsteered: str, rates: dict[str, list[float]]
) -> PromptValues:
    """Per prompt, steered − unsteered backtracks right after a correct step; adds each cell's
    (backtracks, right steps) totals to ``rates``."""
    after = run_values_at(sweep, "backtracking_after_right_step")
    steps = run_values_at(sweep, "right_steps")
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


def probe_answer(config: StudyConfig, study: Path) -> tuple[Answer, dict[str, Any]]:
    """Q3: probe AUROC − token-identity AUROC over the window's offsets, reasoner, steer layer."""
    lo, _, hi = config.window.partition(":")
    window = set(range(int(lo), int(hi) + 1))
    per_offset: dict[int, list[dict[str, float]]] = {}
    base_by_offset: dict[int, list[float]] = {}
    for seed in config.seeds:
        path = study / f"seed{seed}" / "probes" / "results.json"
        if not path.is_file():
            raise InputError(f"no probe results at {str(path)!r}; run the study first")
        for r in json.loads(path.read_text())["results"]:
            if r["layer"] != config.steer_layer or r["offset"] >= 0:
                continue
            if r["model"] == "reasoner":
                per_offset.setdefault(int(r["offset"]), []).append({"seed": seed, **r})
            elif r["model"] == "base":
                base_by_offset.setdefault(int(r["offset"]), []).append(float(r["auroc"]))
    offsets = sorted(per_offset)
    table = {str(o): _pool_probe(per_offset[o]) for o in offsets}
    in_window = [o for o in offsets if o in window]
    if not in_window:
        raise InputError(
            f"the probes cover no offset of the window {config.window}; widen probe_offsets"
        )
    over = [table[str(o)]["over_token"] for o in in_window]
    chance = [table[str(o)]["over_chance"] for o in in_window]
    pooled_over = _mean_effects("probe AUROC − token-identity AUROC (window mean)", over)
    pooled_chance = _mean_effects("probe AUROC − 0.5 (window mean)", chance)
    effects = [pooled_chance, pooled_over]
    structure_note = " (no structure baseline in these results)"
    if all("over_structure" in table[str(o)] for o in in_window):
        pooled_structure = _mean_effects(
            "probe AUROC − structure-baseline AUROC (window mean)",
            [table[str(o)]["over_structure"] for o in in_window],
        )
        effects.append(pooled_structure)
        structure_note = f", {fmt(pooled_structure)} above the structure (layout) baseline"
    earliest = next((o for o in offsets if table[str(o)]["over_token"].sign() > 0), None)
    auroc = float(np.mean([table[str(o)]["auroc"] for o in in_window]))
    base_in_window = [a for o in sorted(window) for a in base_by_offset.get(o, [])]
    base_note = (
        f"; the base model's probe (control) reaches {float(np.mean(base_in_window)):.3f} there"
        if base_in_window
        else ""
    )
    answer = Answer(
        "q3",
        QUESTIONS["q3"],
        verdict(effects, +1),
        f"over offsets {config.window} the reasoner's layer-{config.steer_layer} probe has AUROC "
        f"{auroc:.3f}, {fmt(pooled_over)} above the token-identity baseline{structure_note}; "
        f"earliest offset with a significant lead over tokens: "
        f"{earliest if earliest is not None else 'none'}{base_note}",
        effects,
    )
    curves = {
        str(o): {
            "auroc": table[str(o)]["auroc"],
            "token": table[str(o)]["token"],
            **({"structure": table[str(o)]["structure"]} if "structure" in table[str(o)] else {}),
            **({"base": float(np.mean(base_by_offset[o]))} if o in base_by_offset else {}),
        }
        for o in offsets
    }
    return answer, curves


def _pool_probe(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def pooled(label: str, key: str, centre: float = 0.0) -> Effect:
        means = [r[key] - centre for r in rows]
        ses = [(r[f"{key}_hi"] - r[f"{key}_lo"]) / (2 * 1.96) for r in rows]
        mean = float(np.mean(means))
        se = float(np.mean(ses))  # seeds share the derivation prompts: fully correlated
        per_seed = [
            {
                "seed": r["seed"],
                "diff": r[key] - centre,
                "lo": r[f"{key}_lo"] - centre,
                "hi": r[f"{key}_hi"] - centre,
            }
            for r in rows
        ]
        return Effect(
            label=label,
            diff=mean,
            lo=mean - 1.96 * se,
            hi=mean + 1.96 * se,
            p_value=None,
            n=len(rows),
            per_seed=per_seed,
        )

    out = {
        "auroc": float(np.mean([r["auroc"] for r in rows])),
        "token": float(np.mean([r["token_auroc"] for r in rows])),
        "over_token": pooled("probe − token AUROC", "auroc_over_token"),
        "over_chance": pooled("probe AUROC − 0.5", "auroc", 0.5),
    }
    if all(math.isfinite(r.get("auroc_over_structure") or math.nan) for r in rows):
        out["structure"] = float(np.mean([r["structure_auroc"] for r in rows]))
        out["over_structure"] = pooled("probe − structure AUROC", "auroc_over_structure")
    return out


def _mean_effects(label: str, effects: Sequence[Effect]) -> Effect:
    """The mean of several offsets' effects; its CI treats them as fully correlated (conservative)."""
    return Effect(
        label=label,
        diff=float(np.mean([e.diff for e in effects])),
        lo=float(np.mean([e.lo for e in effects])),
        hi=float(np.mean([e.hi for e in effects])),
        p_value=None,
        n=effects[0].n,
    )


def ablation_answer(
    config: StudyConfig, study: Path
) -> tuple[Answer, dict[str, Any], dict[str, Any]]:
    """Q4: ablating the first K directions vs the best single one and vs random K-subspaces
    (isotropic and, where run, variance-matched); also the dose curves and the residual shares."""
    metric, names = config.metric, ablation_names(config)
    k_max = max(config.ablation_ks)
    vs_single: dict[int, PromptValues] = {}
    joint_by_seed: dict[int, PromptValues] = {}
    randoms_by_seed: dict[int, list[PromptValues]] = {}
    matched_by_seed: dict[int, list[PromptValues]] = {}
    none_by_seed: dict[int, PromptValues] = {}
    joint_vs_none: dict[int, PromptValues] = {}
    mean_vs_none: dict[int, PromptValues] = {}
    dose: dict[str, dict[str, float]] = {}
    for seed in config.seeds:
        v = run_values_at(study / f"seed{seed}" / f"ablation-s{seed}", metric)
        none = v.get(cell_id("reasoner", "none", "unsteered"), {})
        joint_values = v.get(cell_id("reasoner", "ablate", "+".join(names[:k_max])), {})
        singles = {n: v.get(cell_id("reasoner", "ablate", n), {}) for n in names}
        best = min(
            singles,
            key=lambda n: np.mean(list(difference(singles[n], none).values()) or [math.inf]),
        )
        vs_single[seed] = difference(joint_values, singles[best])
        for k in sorted({1, *config.ablation_ks}):  # k = 1: the first direction alone
            randoms = [c for c in v if c.startswith(f"reasoner|ablate|random{k}#")]
            rnd = mean_over([v[c] for c in randoms])
            top = v.get(cell_id("reasoner", "ablate", "+".join(names[:k])), {})
            row = dose.setdefault(str(k), {})
            row[f"directions/{seed}"] = mean_difference(top, none)
            row[f"random/{seed}"] = mean_difference(rnd, none)
            if k == k_max:
                randoms_by_seed[seed] = [v[c] for c in randoms]
                matched = [c for c in v if c.startswith(f"reasoner|ablate|matched{k}#")]
                if matched:
                    matched_by_seed[seed] = [v[c] for c in matched]
        joint_by_seed[seed], none_by_seed[seed] = joint_values, none
        joint_vs_none[seed] = difference(joint_values, none)
        mean_ablated = v.get(cell_id("reasoner", "mean_ablate", "+".join(names[:k_max])), {})
        if mean_ablated:
            mean_vs_none[seed] = difference(mean_ablated, none)
    effects = [
        pooled(f"ablate {k_max} − best single", vs_single),
        versus_baselines(
            f"ablate {k_max} − random {k_max}-subspaces",
            joint_by_seed,
            randoms_by_seed,
            none_by_seed,
        ),
    ]
    matched_note = ""
    if matched_by_seed:
        vs_matched = versus_baselines(
            f"ablate {k_max} − variance-matched random {k_max}-subspaces",
            joint_by_seed,
            matched_by_seed,
            none_by_seed,
        )
        effects.append(vs_matched)
        matched_note = (
            f"; vs variance-matched random {k_max}-subspaces {fmt(vs_matched)}"
            f"{percentile_note(vs_matched, 'variance-matched subspaces')}"
        )
    shares = residual_shares(config, study, "+".join(names[:k_max]), k_max)
    joint = pooled(f"ablate {k_max} − unablated", joint_vs_none)
    reported = [joint]
    mean_note = ""
    if mean_vs_none:
        mean_joint = pooled(f"mean-ablate {k_max} − unablated", mean_vs_none)
        reported.append(mean_joint)
        mean_note = f"; mean-ablating them instead changes it by {fmt(mean_joint)}"
    answer = Answer(
        "q4",
        QUESTIONS["q4"],
        verdict(effects, -1),
        f"projecting out {k_max} directions changes {metric} by {fmt(joint)}; vs the best single "
        f"direction {fmt(effects[0])}; vs random {k_max}-subspaces {fmt(effects[1])}"
        f"{percentile_note(effects[1], f'random {k_max}-subspaces')}{matched_note}{mean_note}"
        f"{power_note(effects[1])}{shares['note']}",
        [*effects, *reported],
    )
    return answer, dose, shares["values"]


def residual_shares(config: StudyConfig, study: Path, span: str, k: int) -> dict[str, Any]:
    """The ablated span's and the random k-subspaces' share of the reasoner's residual (mean over
    seeds; from each ablation run's summary), and a sentence for Q4 ("" without them)."""
    from experiments.steering.runs.subspaces import share_summary

    per: dict[str, list[dict[str, float]]] = {}
    for seed in config.seeds:
        path = study / f"seed{seed}" / f"ablation-s{seed}" / "summary.json"
        if not path.is_file():
            continue
        for c in json.loads(path.read_text())["cells"]:
            share = c.get("residual_share")
            if share is None or c["operation"] != "ablate" or c["k"] != k:
                continue
            role = (
                "span"
                if c["group"] == span
                else f"{c.get('random_kind', 'isotropic')} random"
                if c["random_k"]
                else None
            )
            if role is not None:
                per.setdefault(role, []).append(share)
    values = {
        role: {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
        for role, rows in per.items()
    }
    if "span" not in values:
        return {"values": values, "note": ""}
    note = f"; the ablated span holds {share_summary(values['span'])} of the residual"
    note += "".join(
        f", {role} {k}-subspaces {share_summary(values[role])}"
        for role in ("isotropic random", "variance_matched random")
        if role in values
    )
    return {"values": values, "note": note}


def write_findings(study_dir: str | Path) -> Findings:
    """Answer the four questions for a finished study; write ``findings/findings.json`` and the
    headline figure (``findings/headline.png`` and ``.svg``)."""
    from experiments.study.headline import plot_decisions, plot_headline
    from experiments.study.state import load_state

    study = Path(study_dir).resolve()
    state = load_state(study)
    if not state:
        raise InputError(f"{str(study)!r} holds no study (no study.json); pass a study's --out")
    config = config_from_dict(StudyConfig, state["config"], where=str(study / "study.json"))
    q1, q2, curves = steering_answers(config, study)
    q3, probe_curves = probe_answer(config, study)
    q4, dose, shares = ablation_answer(config, study)
    answers = [q1, q2, q3, q4]
    capability = capability_checks(config, study)
    out = study / "findings"
    out.mkdir(parents=True, exist_ok=True)
    truth = ground_truth(config, study, {a.key: a for a in answers})
    payload = {
        **({"ground_truth": truth} if truth is not None else {}),
        "study": config.name,
        "seeds": list(config.seeds),
        "metric": config.metric,
        "headline_alpha": config.headline_alpha,
        "alphas": sorted(config.alphas),
        "answers": [asdict(a) for a in answers],
        "capability": [asdict(c) for c in capability],
        "curves": {
            "steering": {k: v for k, v in curves.items() if k not in ("decisions", "matched_kl")},
            "decisions": curves.get("decisions"),
            "matched_kl": curves.get("matched_kl"),
            "probes": probe_curves,
            "ablation": dose,
            "ablation_residual_share": shares,
        },
        "config": state["config"],
    }
    path = out / "findings.json"
    path.write_text(json.dumps(_finite(payload), indent=2) + "\n")
    figure = plot_headline(payload, out / "headline")
    plot_decisions(payload, out / "decisions")
    return Findings(answers, list(config.seeds), path, figure, truth, capability)


def _finite(value: Any) -> Any:
    """``value`` with NaN floats as None (strict JSON)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
