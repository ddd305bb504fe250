"""The decision-point metric: does a direction make a backtracking opener more likely, teacher-forced?

Counting backtracking sentences in free generations mixes two routes: a direction can make the
model backtrack more where it would anyway, or make it err more and then catch the error. This
metric holds the text fixed. On held-out traces (``backtrack traces`` on the evaluation split), at
every *decision point* — the first token of each sentence of the thinking text, where a
backtracking sentence could start — it reads the model's next-token distribution, teacher-forced,
steered and unsteered, and records the **log-odds of a backtracking opener** (the summed
probability of the opener tokens, e.g. "Wait" and " Wait", as ``log p − log(1 − p)``), and the KL
divergence of the whole next-token distribution from the unsteered one (how far the direction moved
the output at all, so directions can be compared at matched KL as well as matched norm).

Decision points are split by what precedes them, where the prompt set knows it (the solver of
:mod:`experiments.organism.checker` checks each sentence against the problem's worked steps):
``after_wrong`` (the sentence before is a wrong step), ``after_right`` (a correct step) and
``unknown``. A direction that induces backtracking raises the log-odds after right steps too; one
that only sharpens error detection raises them after wrong ones.

One steered forward pass per trace and cell replaces ~100 decoding steps per generation, so this
affords many strengths and random directions. Every model of the run (the reasoner, and the base
model as the control) reads the *same* traces, so the base model is asked at exactly the places
where the reasoner could backtrack. Results: ``points.jsonl`` (one line per cell and trace) and
``summary.json`` in a resumable run directory.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activation_store.core.configs import config_to_dict, need
from activation_store.core.errors import InputError
from activation_store.models.config import DEVICE_PATTERN, Dtype
from experiments.steering.interventions.units import AlphaUnit
from experiments.steering.runs.decision_points import (
    SPLITS,
    DecisionPoints,
    decision_points,
    opener_ids,
    read_points,
    trace_record,
)

if TYPE_CHECKING:
    from activation_store.direction import Direction
    from experiments.steering.interventions.prefix import SharedPrefix
    from experiments.steering.runs.plan import Condition

log = logging.getLogger(__name__)

POINTS = "points.jsonl"
DEFAULT_OPENERS = ("Wait", "Hmm", "Actually", "Oops", "Alternatively")


@dataclass(frozen=True, kw_only=True)
class DecisionConfig:
    """Teacher-forced decision-point steering: each direction (and baseline) × α × model."""

    models: tuple[str, ...] = ()
    """Models to read (spec names or local directories): the reasoner, and the base model as the
    control, on the same traces."""
    model_labels: tuple[str, ...] = ()
    """Names for the models in results (default: the specs)."""
    traces: str = ""
    """Held-out traces (``backtrack traces`` JSONL, e.g. the reasoner on the evaluation split)."""
    prompts: str = "reasoning-v1"
    """The prompt set the traces come from (its worked steps tell right from wrong)."""
    directions_dir: str = ""
    """Directory of saved directions (NAME.safetensors + NAME.json)."""
    directions: tuple[str, ...] = ()
    """Direction names to use, in order (default: every direction in directions_dir)."""
    alphas: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, -0.05, -0.1, -0.2, -0.3, -0.4)
    """Steering strengths in alpha_unit; 0 is the unsteered reference (always read)."""
    baseline_directions: tuple[str, ...] = ()
    """Directions (of ``directions``) read only at ``baseline_alphas``, e.g. the random
    baselines: a distribution at a few strengths costs far less than a full dose-response each."""
    baseline_alphas: tuple[float, ...] = ()
    """The strengths for ``baseline_directions`` (a subset of ``alphas``); empty: every alpha."""
    alpha_unit: AlphaUnit = "mean_resid_norm"
    """unit, mean_resid_norm or raw (see experiments.steering.interventions.units)."""
    hooks: tuple[str, ...] = ()
    """Hooks to steer at (default: each direction's own)."""
    positions: str = "all"
    """Token positions changed: all, prompt, generated, or START:STOP."""
    openers: tuple[str, ...] = DEFAULT_OPENERS
    """Words that open a backtracking sentence; each counts with and without a leading space
    (the first token of each; words whose first token is not the word are skipped, logged)."""
    max_traces: int | None = None
    """Read at most this many traces (None: all)."""
    batch_size: int = 8
    """Traces per forward pass."""
    prefix_cache_mb: int = 1024
    """Memory for the blocks below the steered one: each batch runs them once, unsteered, and
    every steered cell replays their output (a third of the forward saved when steering block 10
    of 30; same numbers). Batches beyond the budget run in full; 0: off."""
    device: str = "cpu"
    """cpu, cuda, cuda:N or auto."""
    dtype: Dtype = "float32"
    """Model precision: float32, bfloat16 or float16."""
    n_bootstrap: int = 2000
    """Bootstrap resamples (over traces) for confidence intervals."""
    confidence: float = 0.95
    """Confidence level of the intervals."""

    def __post_init__(self) -> None:
        need(bool(self.models), "models is empty; name at least one model")
        need(
            not self.model_labels or len(self.model_labels) == len(self.models),
            f"model_labels has {len(self.model_labels)} names for {len(self.models)} models",
        )
        need(bool(self.traces), "traces is empty; give held-out traces (backtrack traces JSONL)")
        need(bool(self.directions_dir), "directions_dir is empty; point it at saved directions")
        need(0.0 in self.alphas, "alphas must contain 0 (the unsteered reference)")
        need(
            set(self.baseline_alphas) <= set(self.alphas),
            f"baseline_alphas {list(self.baseline_alphas)} must be a subset of alphas",
        )
        need(bool(self.openers), "openers is empty; give at least one backtracking opener")
        need(self.batch_size >= 1, "batch_size must be ≥ 1")
        need(self.prefix_cache_mb >= 0, "prefix_cache_mb must be ≥ 0 (0: off)")
        need(self.max_traces is None or self.max_traces >= 1, "max_traces must be ≥ 1 or none")
        need(bool(DEVICE_PATTERN.match(self.device)), f"device={self.device!r}: use cpu, cuda")
        need(0 < self.confidence < 1, f"confidence={self.confidence} must be in (0, 1)")
        need(self.n_bootstrap >= 100, f"n_bootstrap={self.n_bootstrap}: use at least 100")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model_labels or self.models


@dataclass(frozen=True)
class DecisionResult:
    path: Path
    n_new: int
    seconds: float
    summary: dict[str, Any]


def run_decisions(
    config: DecisionConfig, out: str | Path, *, resume: bool = False
) -> DecisionResult:
    """Read every cell of ``config`` into the run directory ``out`` (resumable)."""
    from experiments.steering.runs.conditions import ModelSlot
    from experiments.steering.runs.inputs import check_fit, select_directions
    from experiments.steering.runs.plan import Condition
    from experiments.steering.runs.rundir import RunDir, append_lines, read_lines

    start = time.perf_counter()
    points, problems = _load_points(config)
    directions = select_directions(config)
    run = RunDir.open(out, "decisions", config, resume=resume)  # type: ignore[arg-type]
    if not run.initialised:
        run.start()
        plan = _plan(config, [d.name for d in directions])
        run.write_json("plan.json", {"conditions": [c.to_json() for c in plan]})
    plan = [Condition.from_json(c) for c in run.read_json("plan.json")["conditions"]]
    done = {(r["condition"], r["prompt_id"]) for r in read_lines(run.path / POINTS)}
    slot = ModelSlot(config)  # type: ignore[arg-type]
    n_new = 0
    try:
        for spec, label in zip(config.models, config.labels, strict=True):
            mine = [c for c in plan if c.model == label]
            if all((c.id, dp.trace.id) in done for c in mine for dp in points):
                continue
            hf_model, tokenizer = slot.load(spec)
            target = check_fit(
                directions,
                config.hooks,
                n_layers=int(hf_model.config.num_hidden_layers),
                d_model=int(hf_model.config.hidden_size),
                model=spec,
            )
            openers = opener_ids(tokenizer, config.openers)
            by_name = {d.name: d for d in directions}
            steered = {
                c.id: _interventions(c, by_name, config, target)
                for c in mine
                if c.operation != "none"
            }
            share = _shared_prefix(hf_model, steered.values(), config.prefix_cache_mb)
            unsteered = read_points(
                hf_model, points, openers, [], batch_size=config.batch_size, share=share
            )
            for condition in mine:
                todo = [i for i, dp in enumerate(points) if (condition.id, dp.trace.id) not in done]
                if not todo:
                    continue
                if condition.operation == "none":
                    results = [unsteered[i] for i in todo]
                else:
                    chosen = [points[i] for i in todo]
                    results = read_points(
                        hf_model,
                        chosen,
                        openers,
                        steered[condition.id],
                        batch_size=config.batch_size,
                        share=share,
                    )
                records = [
                    trace_record(
                        condition,
                        points[i],
                        odds,
                        logp,
                        None if condition.operation == "none" else unsteered[i][1],
                    )
                    for i, (odds, logp) in zip(todo, results, strict=True)
                ]
                append_lines(run.path / POINTS, records)
                n_new += len(records)
                log.info("%s: %d traces", condition.cell, len(records))
    finally:
        slot.release()
    summary = summarize_decisions(run, config, directions, problems)
    run.write_json("summary.json", summary)
    return DecisionResult(run.path, n_new, time.perf_counter() - start, summary)


def _shared_prefix(
    hf_model: Any, interventions: Iterable[Sequence[Any]], budget_mb: int
) -> SharedPrefix | None:
    """A prefix shared by every steered cell: the blocks below the lowest one any cell edits."""
    from experiments.steering.interventions.prefix import SharedPrefix, first_steered_block

    blocks = [first_steered_block(ivs) for ivs in interventions]
    block = min((b for b in blocks if b is not None), default=0)
    if budget_mb == 0 or block == 0:
        return None
    return SharedPrefix(hf_model, block=block, max_bytes=budget_mb * 2**20)


def _load_points(config: DecisionConfig) -> tuple[list[DecisionPoints], dict[str, Any]]:
    from experiments.prompts import load_prompts
    from experiments.traces.record import read_traces

    if not Path(config.traces).is_file():
        raise InputError(f"traces {config.traces!r} is not a file; give backtrack traces JSONL")
    traces = read_traces(config.traces)[: config.max_traces]
    try:
        problems = {p.id: p for p in load_prompts(config.prompts)}
    except InputError:
        problems = {}
    points = [decision_points(t, problems.get(t.prompt_id)) for t in traces]
    points = [p for p in points if p.token_index]
    if not points:
        raise InputError(f"no decision points in {config.traces!r}: its thinking has no sentences")
    return points, problems


def _plan(config: DecisionConfig, names: Sequence[str]) -> list[Condition]:
    from experiments.steering.runs.plan import Condition

    out = []
    for model in config.labels:
        out.append(Condition(model=model, operation="none"))
        few = set(config.baseline_directions) if config.baseline_alphas else set()
        out += [
            Condition(model=model, operation="add", directions=(n,), alpha=a)
            for a in config.alphas
            if a != 0
            for n in names
            if n not in few or a in config.baseline_alphas
        ]
    return out


def _interventions(
    condition: Condition, directions: dict[str, Direction], config: DecisionConfig, target: Any
) -> list[Any]:
    from experiments.steering.interventions.from_directions import add_interventions
    from experiments.steering.interventions.positions import parse_positions

    return add_interventions(
        [directions[n] for n in condition.directions],
        [condition.alpha],
        unit=config.alpha_unit,
        hooks=target.hooks or None,
        positions=parse_positions(config.positions),
    )


def summarize_decisions(
    run: Any, config: DecisionConfig, directions: Sequence[Direction], problems: dict[str, Any]
) -> dict[str, Any]:
    """Per cell: mean log-odds and KL with CIs over traces; Δ vs unsteered per split; each
    candidate against the random directions at the same model and α."""
    from activation_store.core.stats import bootstrap_mean, compare_prompts, versus_group
    from experiments.steering.runs.plan import Condition
    from experiments.steering.runs.rundir import read_lines
    from experiments.steering.runs.summary import per_prompt

    conditions = [Condition.from_json(c) for c in run.read_json("plan.json")["conditions"]]
    cells_of = {c.id: c.cell for c in conditions}
    values = per_prompt(read_lines(run.path / POINTS), cells_of)
    kinds = {d.name: d.kind for d in directions}
    reference = {c.model: c.cell for c in conditions if c.operation == "none"}

    def estimate(xs: list[float]) -> dict[str, Any] | None:
        finite = [x for x in xs if math.isfinite(x)]
        if not finite:
            return None
        e = bootstrap_mean(finite, n_resamples=config.n_bootstrap, confidence=config.confidence)
        return {"mean": e.mean, "lo": e.lo, "hi": e.hi, "n": e.n}

    metrics = ["log_odds", *(f"log_odds_{s}" for s in SPLITS), "kl"]
    cells: list[dict[str, Any]] = []
    for c in conditions:
        if any(x["cell"] == c.cell for x in cells):
            continue
        kind = sorted({kinds.get(n, "?") for n in c.directions}) or ["none"]
        row: dict[str, Any] = {**c.to_json(), "kinds": kind, "metrics": {}, "vs_unsteered": {}}
        for m in metrics:
            row["metrics"][m] = estimate(list(values.get(m, {}).get(c.cell, {}).values()))
            if c.operation != "none" and m != "kl":
                base = values.get(m, {}).get(reference[c.model], {})
                mine = values.get(m, {}).get(c.cell, {})
                result = compare_prompts(
                    mine, base, n_resamples=config.n_bootstrap, confidence=config.confidence
                )
                row["vs_unsteered"][m] = None if result is None else dataclasses.asdict(result)
        cells.append(row)
    comparisons = []
    for cell in cells:
        if cell["operation"] != "add" or cell["kinds"] == ["random"]:
            continue
        randoms = [
            r["cell"]
            for r in cells
            if r["kinds"] == ["random"]
            and r["model"] == cell["model"]
            and r["alpha"] == cell["alpha"]
        ]
        v = values.get("log_odds", {})
        group = [v.get(r, {}) for r in randoms]
        if not group:
            continue
        versus = versus_group(
            v.get(cell["cell"], {}),
            group,
            v.get(reference[cell["model"]], {}),
            n_resamples=config.n_bootstrap,
            confidence=config.confidence,
        )
        if versus is not None:
            comparisons.append({"cell": cell["cell"], "against": "random", **versus})
    splits = {s: sum(r["counts"][s] for r in read_lines(run.path / POINTS)) for s in SPLITS}
    return {
        "kind": "decisions",
        "config": config_to_dict(config),
        "metric_meanings": {
            "log_odds": "log-odds of a backtracking opener at decision points (mean per trace)",
            "log_odds_after_wrong": "the same, at points after a wrong step",
            "log_odds_after_right": "the same, at points after a correct step",
            "log_odds_unknown": "the same, at points after a sentence the solver cannot check",
            "kl": "KL(steered ‖ unsteered) of the next-token distribution at decision points",
        },
        "n_traces": len({r["prompt_id"] for r in read_lines(run.path / POINTS)}),
        "point_records_by_split": splits,
        "problems_known": bool(problems),
        "cells": cells,
        "comparisons": comparisons,
    }
