"""The study's four questions, answered over its seeds with 95 % CIs and an honest verdict.

1. Does the base-derived direction raise backtracking in the reasoner above norm-matched random
   directions and token-embedding directions?
2. Does it leave the base model's backtracking unchanged?
3. Do probes read out upcoming backtracking above chance at negative offsets, beyond a
   token-identity baseline?
4. Does ablating k directions lower backtracking more than ablating one, and more than random
   k-subspaces?

Steering and ablation effects are paired per held-out prompt: each seed's per-prompt difference
(e.g. steered − mean of the random directions, same prompt, same α) is averaged over seeds, and
the CI is a bootstrap over prompts (prompts are the unit of resampling, as in every steering
summary). Probe figures are pooled over seeds from each seed's bootstrap CI (normal
approximation, seeds independent). A verdict is "yes" only when every CI it rests on excludes
zero in the claimed direction; "no" when one excludes zero the other way; else "inconclusive".
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from activation_store.core.errors import InputError
from activation_store.core.stats import (
    PairedComparison,
    PromptValues,
    difference,
    mean_difference,
    mean_over,
    paired_comparison,
)
from experiments.steering.runs.plan import Condition, cell_id
from experiments.steering.runs.rundir import RunDir
from experiments.steering.runs.summary import per_prompt
from experiments.study.config import StudyConfig
from experiments.study.ground_truth import ground_truth, ground_truth_lines
from experiments.study.stages import ablation_names, direction_names

QUESTIONS = {
    "q1": "Does the base-derived direction raise backtracking in the reasoner above norm-matched "
    "random directions and token-embedding directions?",
    "q2": "Does it leave the base model's backtracking unchanged?",
    "q3": "Do probes read out upcoming backtracking above chance at negative offsets, beyond a "
    "token-identity baseline?",
    "q4": "Does ablating k directions lower backtracking more than ablating one, and more than "
    "random k-subspaces?",
}


@dataclass(frozen=True, kw_only=True)
class Effect(PairedComparison):
    """A difference with its 95 % CI, pooled over seeds, named, with each seed's own.

    ``n`` counts the prompts (steering) or seeds (probes) it rests on.
    """

    label: str
    per_seed: list[dict[str, float]] = field(default_factory=list)


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

    def lines(self) -> list[str]:
        out = [f"findings over seeds {self.seeds} → {self.path}"]
        if self.ground_truth is not None:
            out += ground_truth_lines(self.ground_truth)
        for a in self.answers:
            out.append(f"{a.key.upper()} {a.question}")
            out.append(f"    {a.verdict.upper()}: {a.summary}")
        return out


def _run_values(path: Path, metric: str) -> dict[str, PromptValues]:
    """cell → prompt → value of ``metric`` in one steering or ablation run directory."""
    if not (path / "plan.json").is_file():
        raise InputError(
            f"{str(path)!r} is not a finished steering run (no plan.json); run the study first"
        )
    run = RunDir(path)
    conditions = [Condition.from_json(c) for c in run.read_json("plan.json")["conditions"]]
    values = per_prompt(run.generations(), {c.id: c.cell for c in conditions})
    return dict(values.get(metric, {}))


def _pooled(label: str, per_seed: dict[int, PromptValues]) -> Effect:
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


def _verdict(effects: Sequence[Effect], want: int) -> str:
    signs = [e.sign() for e in effects]
    if signs and all(s == want for s in signs):
        return "yes"
    if any(s == -want for s in signs):
        return "no"
    return "inconclusive"


def _fmt(e: Effect) -> str:
    return f"{e.diff:+.3f} [{e.lo:+.3f}, {e.hi:+.3f}]"


def steering_answers(config: StudyConfig, study: Path) -> tuple[Answer, Answer, dict[str, Any]]:
    """Q1 and Q2 from every seed's sweep, plus the pooled α curves for the figure."""
    alpha, metric = config.headline_alpha, config.metric
    vs_random: dict[int, PromptValues] = {}
    vs_tokens: dict[str, dict[int, PromptValues]] = {}
    reasoner_vs_unsteered: dict[int, PromptValues] = {}
    base_vs_unsteered: dict[int, PromptValues] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    base_unsteered: list[float] = []
    for seed in config.seeds:
        v = _run_values(study / f"seed{seed}" / f"sweep-s{seed}", metric)
        names = direction_names(config, seed)
        randoms = [n for k, n in names.items() if k.startswith("random")]
        tokens = {k: n for k, n in names.items() if k.startswith(("embed-", "unembed-"))}
        steered = v.get(cell_id("reasoner", "add", names["base_dom"], alpha), {})
        vs_random[seed] = difference(
            steered, mean_over([v.get(cell_id("reasoner", "add", r, alpha), {}) for r in randoms])
        )
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
    q1_effects = [_pooled("reasoner: base direction − random directions", vs_random)]
    q1_effects += [
        _pooled(f"reasoner: base direction − {role}", d) for role, d in vs_tokens.items()
    ]
    raw = _pooled("reasoner: base direction − unsteered", reasoner_vs_unsteered)
    q1 = Answer(
        "q1",
        QUESTIONS["q1"],
        _verdict(q1_effects, +1),
        f"at α = {alpha:g} × mean residual norm, {metric} per generation changes by {_fmt(raw)} vs "
        f"unsteered; vs random directions {_fmt(q1_effects[0])}"
        + "".join(f"; vs {e.label.split('− ')[-1]} {_fmt(e)}" for e in q1_effects[1:]),
        [*q1_effects, raw],
    )
    base = _pooled("base model: base direction − unsteered", base_vs_unsteered)
    unchanged = base.sign() == 0
    q2 = Answer(
        "q2",
        QUESTIONS["q2"],
        "yes" if unchanged else "no",
        f"the base model's {metric} changes by {_fmt(base)} at α = {alpha:g}"
        + (" (CI includes 0)" if unchanged else " (CI excludes 0)")
        + f"; in the reasoner the same direction changes it by {_fmt(raw)}"
        + _floor_note(base_unsteered),
        [base, raw],
    )
    return q1, q2, curves


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
                _meancell_id(v, model, name, a) for a in alphas
            ]
        curves.setdefault(f"{model}: random", {})[str(seed)] = [
            float(np.nanmean([_meancell_id(v, model, r, a) for r in randoms])) for a in alphas
        ]


def _meancell_id(v: dict[str, PromptValues], model: str, name: str, alpha: float) -> float:
    cell = cell_id(model, "none", "unsteered") if alpha == 0 else cell_id(model, "add", name, alpha)
    values = list(v.get(cell, {}).values())
    return float(np.mean(values)) if values else math.nan


def probe_answer(config: StudyConfig, study: Path) -> tuple[Answer, dict[str, Any]]:
    """Q3: probe AUROC − token-identity AUROC over the window's offsets, reasoner, steer layer."""
    lo, _, hi = config.window.partition(":")
    window = set(range(int(lo), int(hi) + 1))
    per_offset: dict[int, list[dict[str, float]]] = {}
    for seed in config.seeds:
        path = study / f"seed{seed}" / "probes" / "results.json"
        if not path.is_file():
            raise InputError(f"no probe results at {str(path)!r}; run the study first")
        for r in json.loads(path.read_text())["results"]:
            if r["model"] == "reasoner" and r["layer"] == config.steer_layer and r["offset"] < 0:
                per_offset.setdefault(int(r["offset"]), []).append({"seed": seed, **r})
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
    earliest = next((o for o in offsets if table[str(o)]["over_token"].sign() > 0), None)
    auroc = float(np.mean([table[str(o)]["auroc"] for o in in_window]))
    answer = Answer(
        "q3",
        QUESTIONS["q3"],
        _verdict([pooled_chance, pooled_over], +1),
        f"over offsets {config.window} the reasoner's layer-{config.steer_layer} probe has AUROC "
        f"{auroc:.3f}, {_fmt(pooled_over)} above the token-identity baseline; earliest offset "
        f"with a significant lead over tokens: {earliest if earliest is not None else 'none'}",
        [pooled_chance, pooled_over],
    )
    curves = {
        str(o): {"auroc": table[str(o)]["auroc"], "token": table[str(o)]["token"]} for o in offsets
    }
    return answer, curves


def _pool_probe(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def pooled(label: str, key: str, centre: float = 0.0) -> Effect:
        means = [r[key] - centre for r in rows]
        ses = [(r[f"{key}_hi"] - r[f"{key}_lo"]) / (2 * 1.96) for r in rows]
        mean = float(np.mean(means))
        se = math.sqrt(sum(s * s for s in ses)) / len(ses)
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

    return {
        "auroc": float(np.mean([r["auroc"] for r in rows])),
        "token": float(np.mean([r["token_auroc"] for r in rows])),
        "over_token": pooled("probe − token AUROC", "auroc_over_token"),
        "over_chance": pooled("probe AUROC − 0.5", "auroc", 0.5),
    }


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


def ablation_answer(config: StudyConfig, study: Path) -> tuple[Answer, dict[str, Any]]:
    """Q4: ablating the first K directions vs the best single one and vs random K-subspaces."""
    metric, names = config.metric, ablation_names(config)
    k_max = max(config.ablation_ks)
    vs_single: dict[int, PromptValues] = {}
    vs_random: dict[int, PromptValues] = {}
    joint_vs_none: dict[int, PromptValues] = {}
    dose: dict[str, dict[str, float]] = {}
    for seed in config.seeds:
        v = _run_values(study / f"seed{seed}" / f"ablation-s{seed}", metric)
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
                vs_random[seed] = difference(joint_values, rnd)
        joint_vs_none[seed] = difference(joint_values, none)
    effects = [
        _pooled(f"ablate {k_max} − best single", vs_single),
        _pooled(f"ablate {k_max} − random {k_max}-subspaces", vs_random),
    ]
    joint = _pooled(f"ablate {k_max} − unablated", joint_vs_none)
    answer = Answer(
        "q4",
        QUESTIONS["q4"],
        _verdict(effects, -1),
        f"projecting out {k_max} directions changes {metric} by {_fmt(joint)}; vs the best single "
        f"direction {_fmt(effects[0])}; vs random {k_max}-subspaces {_fmt(effects[1])}",
        [*effects, joint],
    )
    return answer, dose


def write_findings(study_dir: str | Path) -> Findings:
    """Answer the four questions for a finished study; write ``findings/findings.json`` and the
    headline figure (``findings/headline.png`` and ``.svg``)."""
    from activation_store.core.configs import config_from_dict
    from experiments.study.headline import plot_headline
    from experiments.study.state import load_state

    study = Path(study_dir).resolve()
    state = load_state(study)
    if not state:
        raise InputError(f"{str(study)!r} holds no study (no study.json); pass a study's --out")
    config = config_from_dict(StudyConfig, state["config"], where=str(study / "study.json"))
    q1, q2, curves = steering_answers(config, study)
    q3, probe_curves = probe_answer(config, study)
    q4, dose = ablation_answer(config, study)
    answers = [q1, q2, q3, q4]
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
        "curves": {"steering": curves, "probes": probe_curves, "ablation": dose},
        "config": state["config"],
    }
    path = out / "findings.json"
    path.write_text(json.dumps(_finite(payload), indent=2) + "\n")
    figure = plot_headline(payload, out / "headline")
    return Findings(answers, list(config.seeds), path, figure, truth)


def _finite(value: Any) -> Any:
    """``value`` with NaN floats as None (strict JSON)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
