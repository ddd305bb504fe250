"""Q3 of the findings: probes against the token-identity and structure baselines, with the base
model's probe as the control."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from activation_store.core.errors import InputError
from activation_store.events import parse_offsets
from experiments.study.answers import QUESTIONS, Answer
from experiments.study.config import StudyConfig
from experiments.study.effects import (
    Effect,
    fmt,
    verdict,
)

OVER_CHANCE = "probe AUROC − 0.5 (window mean)"
"""The label of Q3's effect of the window's mean AUROC over chance (ground truth's c6 reads its
CI)."""


def probe_answer(config: StudyConfig, study: Path) -> tuple[Answer, dict[str, Any]]:
    """Q3: probe AUROC − token-identity AUROC over the window's offsets, reasoner, steer layer."""
    window = set(parse_offsets(config.window))
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
    pooled_chance = _mean_effects(OVER_CHANCE, chance)
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
    over = [r.get("auroc_over_structure") for r in rows]  # None where no baseline was fitted
    if all(v is not None and math.isfinite(v) for v in over):
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
