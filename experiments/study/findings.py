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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from activation_store.core.configs import config_from_dict
from activation_store.core.errors import InputError
from experiments.study.ablation_findings import ablation_answer
from experiments.study.answers import Answer
from experiments.study.capability import Capability, capability_checks, capability_lines
from experiments.study.config import StudyConfig
from experiments.study.ground_truth import ground_truth, ground_truth_lines
from experiments.study.probe_findings import probe_answer
from experiments.study.steering_findings import steering_answers


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
