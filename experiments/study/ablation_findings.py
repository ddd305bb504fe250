"""Q4 of the findings: the joint ablation against single directions and random subspaces, with
the ablated spans' share of the residual."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from activation_store.core.stats import (
    PromptValues,
    difference,
    mean_difference,
    mean_over,
)
from experiments.steering.runs.plan import cell_id
from experiments.study.answers import QUESTIONS, Answer
from experiments.study.config import StudyConfig
from experiments.study.effects import (
    fmt,
    percentile_note,
    pooled,
    power_note,
    run_values_at,
    verdict,
    versus_baselines,
)
from experiments.study.stages import ablation_names


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
