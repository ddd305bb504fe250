"""Joint mediation: how much backtracking drops when 1..k directions are projected out.

For each k: the drop from ablating the first k directions together, the drops from ablating random
k-dimensional subspaces (the null: any k dimensions removed), and the directions against the random
subspaces (a hierarchical bootstrap over prompts and subspaces, and their percentile among them). A drop well beyond random that grows with k supports several
directions jointly mediating backtracking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from activation_store.core.stats import PromptValues, mean_difference

if TYPE_CHECKING:
    from experiments.steering.runs.config import RunSettings

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
            randoms = [c["cell"] for c in mine if c["operation"] == op and c["random_k"] == k]
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
                random_effects = [mean_difference(v.get(r, {}), base) for r in randoms if v.get(r)]
                row["random"] = {
                    "n_subspaces": len(random_effects),
                    "mean_effect": float(np.mean(random_effects)) if random_effects else None,
                    "min_effect": float(np.min(random_effects)) if random_effects else None,
                    "max_effect": float(np.max(random_effects)) if random_effects else None,
                }
                group = [v.get(r, {}) for r in randoms if v.get(r)]
                row["vs_random"] = [
                    {
                        "cell": c["cell"],
                        "group": c["group"],
                        "effect": config.versus_group(v.get(c["cell"], {}), group, base),
                    }
                    for c in top
                    if group
                ]
                rows.append(row)
    return rows
