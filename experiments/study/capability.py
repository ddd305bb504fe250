"""The capability check: does steering (or ablating) cost the reasoner its answers?

A direction that makes the model backtrack more by breaking it is no evidence for a backtracking
mechanism. With ``steer_stop_at_answer``, every steering and ablation generation runs on to its
answer line, so each cell has an answer accuracy: ``answered_correctly`` (states a final answer
and it is right) and ``answered`` (states one at all). For each direction at ``headline_alpha``
(and the joint ablation), the reasoner's accuracy is compared with its unsteered accuracy on the
same prompts — per prompt averaged over seeds, paired bootstrap CI and sign-flip p over prompts
(:func:`experiments.study.effects.pooled`) — and given a verdict:

- **lost** (the direction destroys capability): the CI of Δ accuracy lies below 0 and the drop is
  at least ``capability_tolerance``;
- **kept**: the CI's lower end lies above −``capability_tolerance``;
- **inconclusive** otherwise — and always when fewer than ``capability_min_answered`` of the
  unsteered generations state an answer (too short a budget: "never answered" is not "wrong").

The share that answered is reported beside every accuracy, and so is accuracy among the answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from activation_store.core.stats import PromptValues, difference, mean_over
from experiments.steering.runs.plan import cell_id
from experiments.study.config import StudyConfig
from experiments.study.effects import Effect, fmt, pooled, run_values_of
from experiments.study.stages import ablation_names, sweep_direction_names

ACCURACY = "answered_correctly"
ANSWERED = "answered"


@dataclass(frozen=True)
class Capability:
    """One direction's capability check (see the module docstring)."""

    label: str
    """What was done to the reasoner, e.g. ``steer: base direction``."""
    verdict: str
    """kept, lost or inconclusive."""
    destroys_capability: bool
    """verdict == "lost"."""
    summary: str
    """One sentence with the numbers."""
    accuracy: Effect
    """Δ accuracy (answered_correctly) vs unsteered, pooled over seeds."""
    answered: Effect
    """Δ share of generations that state an answer vs unsteered."""
    accuracy_unsteered: float
    accuracy_steered: float
    answered_unsteered: float
    answered_steered: float


def capability_verdict(
    delta: Effect, answered_unsteered: float, config: StudyConfig
) -> tuple[str, str]:
    """The verdict on a Δ accuracy and why (see the module docstring)."""
    tolerance = config.capability_tolerance
    if not answered_unsteered >= config.capability_min_answered:
        return "inconclusive", (
            f"only {answered_unsteered:.0%} of unsteered generations state an answer (fewer than "
            f"capability_min_answered = {config.capability_min_answered:.0%}): raise "
            "steer_max_new_tokens or set steer_stop_at_answer"
        )
    if not math.isfinite(delta.diff):
        return "inconclusive", "no paired prompts"
    if delta.hi < 0 and delta.diff <= -tolerance:
        return "lost", f"accuracy drops by more than {tolerance:g} with the CI below 0"
    if delta.lo > -tolerance:
        return "kept", f"the CI rules out a drop of {tolerance:g} or more"
    return "inconclusive", f"the CI allows a drop of {tolerance:g} or more but does not show one"


def capability_checks(config: StudyConfig, study: Path) -> list[Capability]:
    """Every steered direction at ``headline_alpha`` (random directions as one group) and the
    joint ablation, on the reasoner; empty when the runs record no answers (runs made before
    the check existed)."""
    out = []
    alpha = config.headline_alpha
    sweeps = _all_seeds(config, study, "sweep")
    if sweeps is None:
        return []
    unsteered = cell_id("reasoner", "none", "unsteered")
    groups: dict[str, dict[int, list[str]]] = {}
    for seed in config.seeds:
        names = sweep_direction_names(config, seed)
        for role, name in names.items():
            label = "random directions" if role.startswith("random") else _ROLES.get(role, role)
            groups.setdefault(f"steer: {label}", {}).setdefault(seed, []).append(
                cell_id("reasoner", "add", name, alpha)
            )
    for label, cells in groups.items():
        out.append(capability_check(label, sweeps, cells, unsteered, config))
    ablations = _all_seeds(config, study, "ablation")
    if ablations is not None:
        ablated = ablation_names(config)[: max(config.ablation_ks)]
        joint = cell_id("reasoner", "ablate", "+".join(ablated))
        out.append(
            capability_check(
                f"ablate {len(ablated)} directions",
                ablations,
                {s: [joint] for s in config.seeds},
                unsteered,
                config,
            )
        )
    return out


_ROLES = {"base_dom": "base direction", "reasoner_dom": "reasoner direction"}


def _all_seeds(
    config: StudyConfig, study: Path, step: str
) -> dict[int, dict[str, dict[str, PromptValues]]] | None:
    """Seed → the answer metrics of its ``step`` run (None unless every seed's records them)."""
    out = {}
    for seed in config.seeds:
        values = _metrics(study / f"seed{seed}" / f"{step}-s{seed}")
        if values is None:
            return None
        out[seed] = values
    return out


def _metrics(path: Path) -> dict[str, dict[str, PromptValues]] | None:
    """metric → cell → prompt → value for the answer metrics of one run (None: not recorded)."""
    if not (path / "plan.json").is_file():
        return None
    values = run_values_of(path, (ACCURACY, ANSWERED))
    return values if values[ANSWERED] else None


def capability_check(
    label: str,
    runs: dict[int, dict[str, dict[str, PromptValues]]],
    cells: dict[int, list[str]],
    reference: str,
    config: StudyConfig,
) -> Capability:
    deltas: dict[str, dict[int, PromptValues]] = {ACCURACY: {}, ANSWERED: {}}
    means: dict[str, list[float]] = {}
    for metric in (ACCURACY, ANSWERED):
        steered_all: list[float] = []
        reference_all: list[float] = []
        for seed, v in runs.items():
            ref = v[metric].get(reference, {})
            steered = mean_over([v[metric].get(c, {}) for c in cells[seed]])
            deltas[metric][seed] = difference(steered, ref)
            steered_all += list(steered.values())
            reference_all += list(ref.values())
        means[f"{metric}/steered"] = steered_all
        means[f"{metric}/unsteered"] = reference_all
    accuracy = pooled(f"{label}: accuracy − unsteered", deltas[ACCURACY])
    answered = pooled(f"{label}: answered share − unsteered", deltas[ANSWERED])
    m = {k: float(np.mean(v)) if v else math.nan for k, v in means.items()}
    verdict, why = capability_verdict(accuracy, m[f"{ANSWERED}/unsteered"], config)
    summary = (
        f"accuracy {m[f'{ACCURACY}/steered']:.2f} vs {m[f'{ACCURACY}/unsteered']:.2f} unsteered "
        f"(Δ {fmt(accuracy)}); answered {m[f'{ANSWERED}/steered']:.0%} vs "
        f"{m[f'{ANSWERED}/unsteered']:.0%} (Δ {fmt(answered)}); accuracy among answered "
        f"{_ratio(m, 'steered')} vs {_ratio(m, 'unsteered')}: {why}"
    )
    return Capability(
        label=label,
        verdict=verdict,
        destroys_capability=verdict == "lost",
        summary=summary,
        accuracy=accuracy,
        answered=answered,
        accuracy_unsteered=m[f"{ACCURACY}/unsteered"],
        accuracy_steered=m[f"{ACCURACY}/steered"],
        answered_unsteered=m[f"{ANSWERED}/unsteered"],
        answered_steered=m[f"{ANSWERED}/steered"],
    )


def _ratio(m: dict[str, float], side: str) -> str:
    answered = m[f"{ANSWERED}/{side}"]
    return f"{m[f'{ACCURACY}/{side}'] / answered:.2f}" if answered > 0 else "n/a"


def capability_lines(checks: list[Capability]) -> list[str]:
    """Printable lines: one per check."""
    return [f"CAPABILITY {c.label}: {c.verdict.upper()}: {c.summary}" for c in checks]
