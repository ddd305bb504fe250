"""Summaries of a run: per-cell means with CIs over prompts, and paired tests against baselines.

A *cell* is a condition without its seed; a prompt's value in a cell is the mean over seeds.
Sweeps compare every steered cell with the unsteered one and with the random directions at the
same model and α (a hierarchical bootstrap over prompts and random directions, so their spread is
in the CI, and the cell's percentile among the random directions' effects); ablation runs compare every ablated cell with the unablated one
and tabulate the dose-response (see :mod:`experiments.steering.runs.mediation`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from activation_store.core.configs import config_to_dict
from activation_store.core.stats import (
    PromptValues,
    bootstrap_mean,
    wilson_interval,
)
from experiments.steering.runs.config import RunSettings
from experiments.steering.runs.mediation import dose_response
from experiments.steering.runs.metrics import METRIC_MEANINGS
from experiments.steering.runs.metrics.record import completed, recalibrated
from experiments.steering.runs.plan import Condition
from experiments.steering.runs.rundir import RunDir

logger = logging.getLogger(__name__)

BOOLEAN_METRICS = frozenset(
    {"any_backtracking", "degenerate", "correct", "answered", "answered_correctly"}
)
KEY_METRICS = ("backtracking_sentences", "coherent_backtracking_sentences", "wait_hmm_fraction")
"""Metrics that get paired tests against baselines."""
CAPABILITY_METRICS = ("answered", "answered_correctly")
"""Metrics that get a paired test against the unsteered (unablated) run only: does the
intervention cost the model its answers (the capability check)?"""

CellValues = dict[str, PromptValues]
"""cell → prompt id → value (mean over seeds), for one metric."""


def per_prompt(
    generations: Iterable[dict[str, Any]], cells: dict[str, str]
) -> dict[str, CellValues]:
    """metric → cell → prompt → mean over seeds (None values skipped)."""
    sums: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for g in generations:
        cell = cells.get(g["condition"])
        if cell is None:
            continue
        for metric, value in g["metrics"].items():
            if value is not None:
                sums[(metric, cell, g["prompt_id"])].append(float(value))
    out: dict[str, CellValues] = defaultdict(lambda: defaultdict(dict))
    for (metric, cell, prompt), values in sums.items():
        out[metric][cell][prompt] = float(np.mean(values))
    return out


def estimate(values: Sequence[float], metric: str, config: RunSettings) -> dict[str, Any]:
    """Mean and CI: Wilson for 0/1 outcomes, else a bootstrap over prompts."""
    if metric in BOOLEAN_METRICS and all(v in (0.0, 1.0) for v in values):
        est = wilson_interval(int(sum(values)), len(values), confidence=config.confidence)
    else:
        est = bootstrap_mean(values, n_resamples=config.n_bootstrap, confidence=config.confidence)
    return asdict(est)


def degenerate_thresholds(
    generations: Sequence[dict[str, Any]], unsteered_ids: set[str], config: RunSettings
) -> dict[str, float]:
    """Model → the repetition above which its generations are degenerate: the
    ``degenerate_quantile`` of its unsteered generations' repetition (``max_repetition`` without a
    quantile, or before any unsteered generation exists)."""
    unsteered: dict[str, list[float]] = defaultdict(list)
    for g in generations:
        if g["condition"] in unsteered_ids:
            unsteered[g["model"]].append(float(g["metrics"]["repetition_rate"]))
    out = {}
    for model in dict.fromkeys(g["model"] for g in generations):
        rates = unsteered.get(model)
        if config.degenerate_quantile is None or not rates:
            out[model] = config.max_repetition
        else:
            out[model] = float(np.quantile(rates, config.degenerate_quantile))
    return out


def calibrated(run: RunDir, config: RunSettings) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The run's generations with the degenerate filter calibrated (see
    :func:`degenerate_thresholds`) and any metric added since they were written measured from their
    text (:func:`~experiments.steering.runs.metrics.record.completed`), and the thresholds."""
    conditions = [Condition.from_json(c) for c in run.read_json("plan.json")["conditions"]]
    unsteered = {c.id for c in conditions if c.operation == "none"}
    generations = list(run.generations())
    thresholds = degenerate_thresholds(generations, unsteered, config)
    out = [
        {**g, "metrics": recalibrated(completed(g["metrics"], g["text"]), thresholds[g["model"]])}
        for g in generations
    ]
    return out, thresholds


def run_values(run: RunDir, config: RunSettings) -> dict[str, CellValues]:
    """metric → cell → prompt → value (mean over seeds) of a run, degenerate filter calibrated."""
    conditions = [Condition.from_json(c) for c in run.read_json("plan.json")["conditions"]]
    generations, _ = calibrated(run, config)
    return per_prompt(generations, {c.id: c.cell for c in conditions})


def summarize(run: RunDir, config: RunSettings, n_prompts: int) -> dict[str, Any]:
    """Everything the report shows, as JSON-ready numbers (written to ``summary.json``)."""
    plan = run.read_json("plan.json")
    conditions = [Condition.from_json(c) for c in plan["conditions"]]
    cells_of = {c.id: c.cell for c in conditions}
    first = {c.cell: c for c in reversed(conditions)}
    generations, thresholds = calibrated(run, config)
    values = per_prompt(generations, cells_of)
    kinds = {name: d["kind"] for name, d in plan["directions"].items()}
    changed = _positions_changed(run.intervention_records(), cells_of)
    shares = (plan.get("residual_shares") or {}).get("groups", {})
    cells = []
    for cell, cond in sorted(first.items(), key=lambda kv: conditions.index(kv[1])):
        metrics = {
            m: estimate(list(values[m][cell].values()), m, config)
            for m in METRIC_MEANINGS
            if values.get(m, {}).get(cell)
        }
        cells.append(
            {
                "cell": cell,
                **{k: v for k, v in cond.to_json().items() if k not in ("id", "seed", "cell")},
                "kinds": ["random"]
                if cond.random_k
                else sorted({kinds.get(d, "?") for d in cond.directions}) or ["none"],
                "seeds": sorted({c.seed for c in conditions if c.cell == cell}),
                "n_prompts": max(
                    (len(values[m][cell]) for m in values if cell in values[m]), default=0
                ),
                "metrics": metrics,
                "positions_changed": changed.get(cell, {"prompt": 0, "generated": 0}),
                **({"residual_share": shares[cond.group]} if cond.group in shares else {}),
            }
        )
    by_cell = {c["cell"]: c for c in cells}
    comparisons = _comparisons(cells, values, config)
    out: dict[str, Any] = {
        "kind": run.read_json("config.json")["kind"],
        "config": config_to_dict(config),
        "alpha_unit": plan.get("alpha_unit"),
        "positions": plan["positions"],
        "positions_meaning": plan["positions_meaning"],
        "metric_meanings": METRIC_MEANINGS,
        "labeller": plan.get("labeller"),
        "directions": plan["directions"],
        "n_prompts": n_prompts,
        "degenerate_thresholds": thresholds,
        "cells": cells,
        "comparisons": comparisons,
    }
    if out["kind"] == "ablation":
        out["dose_response"] = dose_response(by_cell, values, config)
        if "residual_shares" in plan:
            out["residual_moments"] = plan["residual_shares"]["moments"]
    return out


def _comparisons(
    cells: Sequence[dict[str, Any]], values: dict[str, CellValues], config: RunSettings
) -> list[dict[str, Any]]:
    """Each intervened cell vs its model's unintervened cell, and steered cells vs random ones."""
    reference = {c["model"]: c["cell"] for c in cells if c["operation"] == "none"}
    out = []
    for c in cells:
        if c["operation"] == "none":
            continue
        randoms = [
            r["cell"]
            for r in cells
            if r["operation"] == "add"
            and r["model"] == c["model"]
            and r["alpha"] == c["alpha"]
            and r["kinds"] == ["random"]
            and r["k"] == 1
        ]
        for metric in KEY_METRICS + CAPABILITY_METRICS:
            cell_values = values.get(metric, {})
            mine = cell_values.get(c["cell"], {})
            base = cell_values.get(reference.get(c["model"], ""), {})
            result = config.paired(mine, base)
            if result is not None:
                against = "unsteered" if c["operation"] == "add" else "unablated"
                out.append({"cell": c["cell"], "against": against, "metric": metric, **result})
            if (
                c["operation"] == "add"
                and randoms
                and c["kinds"] != ["random"]
                and metric in KEY_METRICS
            ):
                group = [cell_values.get(r, {}) for r in randoms]
                result = config.versus_group(mine, group, base)
                if result is not None:
                    out.append(
                        {
                            "cell": c["cell"],
                            "against": "random",
                            "metric": metric,
                            "n_random": len(randoms),
                            **result,
                        }
                    )
    return out


def _positions_changed(
    records: Iterable[dict[str, Any]], cells_of: dict[str, str]
) -> dict[str, dict[str, int]]:
    """Positions changed per cell, summed over batches (max over hooks of one batch)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"prompt": 0, "generated": 0})
    for record in records:
        cell = cells_of.get(record["condition"])
        if cell is None or not record["interventions"]:
            continue
        for part in ("prompt", "generated"):
            out[cell][part] += max(iv["positions_changed"][part] for iv in record["interventions"])
    return dict(out)
