"""Joint mediation: how much backtracking drops when 1..k directions are projected out.

For each k: the drop from ablating the first k directions together, the drops from ablating random
k-dimensional subspaces (the null: any k dimensions removed; isotropic ones under ``random``,
variance-matched ones under ``random_matched``), each span's share of the residual where the run
had a store, and the directions against the random
subspaces (a hierarchical bootstrap over prompts and subspaces, and their percentile among them). A drop well beyond random that grows with k supports several
directions jointly mediating backtracking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from activation_store.core.stats import PromptValues, mean_difference

if TYPE_CHECKING:
    from experiments.steering.runs.config import RunSettings

RANDOM_KINDS = {"isotropic": "", "variance_matched": "_matched"}
"""Kinds of random subspaces → the suffix of their keys in a dose-response row (``random``,
``vs_random``; ``random_matched``, ``vs_random_matched``)."""
DOSE_METRICS = ("backtracking_sentences", "coherent_backtracking_sentences", "wait_hmm_fraction")


def dose_response(
    cells: dict[str, dict[str, Any]],
    values: dict[str, dict[str, PromptValues]],
    config: RunSettings,
) -> list[dict[str, Any]]:
    """One row per (model, k, metric): directions' drop, random subspaces' drops, paired test.

    ``values`` is metric → cell → prompt → value.
    """

    rows = []
    for model in dict.fromkeys(c["model"] for c in cells.values()):
        mine = [c for c in cells.values() if c["model"] == model]
        reference = next((c["cell"] for c in mine if c["operation"] == "none"), None)
        if reference is None:
            continue
        operations = [
            op for op in ("ablate", "mean_ablate") if any(c["operation"] == op for c in mine)
        ]
        for op, k in [
            (op, k)
            for op in operations
            for k in sorted({c["k"] for c in mine if c["operation"] == op})
        ]:
            top = [c for c in mine if c["operation"] == op and c["k"] == k and not c["random_k"]]
            nulls = {
                kind: [
                    c["cell"]
                    for c in mine
                    if c["operation"] == op
                    and c["random_k"] == k
                    and c.get("random_kind", "isotropic") == kind
                ]
                for kind in RANDOM_KINDS
            }
            for metric in DOSE_METRICS:
                v = values.get(metric, {})
                base = v.get(reference, {})
                row: dict[str, Any] = {
                    "model": model,
                    "mode": "mean" if op == "mean_ablate" else "zero",
                    "k": k,
                    "metric": metric,
                }
                row["directions"] = [
                    {
                        "cell": c["cell"],
                        "group": c["group"],
                        "effect": config.paired(v.get(c["cell"], {}), base),
                    }
                    for c in top
                ]
                for kind, randoms in nulls.items():
                    if kind != "isotropic" and not randoms:
                        continue
                    suffix = RANDOM_KINDS[kind]
                    row[f"random{suffix}"], row[f"vs_random{suffix}"] = _against_random(
                        top, randoms, v, base, config
                    )
                row["residual_share"] = {
                    c["cell"]: c["residual_share"]
                    for c in mine
                    if c["operation"] == op and c["k"] == k and "residual_share" in c
                }
                rows.append(row)
    return rows


def _against_random(
    top: list[dict[str, Any]],
    randoms: list[str],
    v: dict[str, PromptValues],
    base: PromptValues,
    config: RunSettings,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The random subspaces' drops (count, mean, range) and each direction set against them."""
    effects = [mean_difference(v.get(r, {}), base) for r in randoms if v.get(r)]
    summary = {
        "n_subspaces": len(effects),
        "mean_effect": float(np.mean(effects)) if effects else None,
        "min_effect": float(np.min(effects)) if effects else None,
        "max_effect": float(np.max(effects)) if effects else None,
    }
    group = [v.get(r, {}) for r in randoms if v.get(r)]
    versus = [
        {
            "cell": c["cell"],
            "group": c["group"],
            "effect": config.versus_group(v.get(c["cell"], {}), group, base),
        }
        for c in top
        if group
    ]
    return summary, versus
