"""Run a steering sweep or an ablation experiment into a resumable run directory.

>>> from experiments.steering.runs.config import SweepConfig
>>> from experiments.steering.runs.runner import run_experiment
>>> config = SweepConfig(models=("reasoner-dir", "base-dir"), model_labels=("reasoner", "base"),
...                      directions_dir="out/directions", alphas=(0, 4, 8, 12, 16, -4, -8))
>>> result = run_experiment(config, "runs/sweep1")            # killed? rerun with resume=True
>>> result.summary["cells"][0]["metrics"]["backtracking_sentences"]   # mean, lo, hi, n

Every prompt × condition is generated once on the plain Hugging Face model. The conditions of one
model share mixed batches (:func:`~experiments.steering.runs.conditions.run_conditions`): each row
carries its own condition's interventions, finished rows leave the batch and waiting rows join it.
Every ``batch_size`` finished generations are appended to ``generations.jsonl`` (and one line per
condition among them to ``interventions.jsonl``).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from activation_store.direction import Direction, load_directions
from experiments.steering.runs.conditions import ModelSlot, run_conditions, run_conditions_vllm
from experiments.steering.runs.config import AblationConfig, RunSettings, SweepConfig
from experiments.steering.runs.inputs import check_fit, encode_prompts, held_out_problems
from experiments.steering.runs.plan import Condition
from experiments.steering.runs.preparation import prepare, write_setup
from experiments.steering.runs.rundir import RunDir
from experiments.steering.runs.summary import summarize

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What a call of :func:`run_experiment` did."""

    path: Path
    """The run directory."""
    n_new: int
    """Generations made by this call (0 when everything was already done)."""
    n_total: int
    """Generations in the run directory now."""
    seconds: float
    """Wall time of this call."""
    summary: dict[str, Any]
    """The contents of ``summary.json``."""


def run_experiment(
    config: SweepConfig | AblationConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
) -> RunResult:
    """Run (or, with ``resume``, continue) ``config`` into the run directory ``out``."""
    start = time.perf_counter()
    if config.engine == "vllm":  # refuse what vLLM cannot express before anything is written
        from experiments.steering.interventions.vllm import check_vllm_positions

        check_vllm_positions(config.positions, config.hooks)
    kind = "sweep" if isinstance(config, SweepConfig) else "ablation"
    problems = held_out_problems(config)
    run = RunDir.open(out, kind, config, resume=resume)
    slot = ModelSlot(config)
    if not run.initialised:
        setup = prepare(config, slot.load)  # fails here, before anything is written
        run.start()
        write_setup(run, config, setup)
    directions = {d.name: d for d in load_directions(run.directions_dir)}
    plan = [Condition.from_json(c) for c in run.read_json("plan.json")["conditions"]]
    done = run.completed()
    todo = {c.id: [p for p in problems if (c.id, p.id) not in done] for c in plan}
    n_todo = sum(len(v) for v in todo.values())
    logger.info(
        "%s: %d conditions × %d prompts, %d generations to go",
        run.path,
        len(plan),
        len(problems),
        n_todo,
    )
    bar = tqdm(total=n_todo, unit="gen", desc="steering", disable=not progress, dynamic_ncols=True)
    try:
        for spec, label in zip(config.models, config.labels, strict=True):
            conditions = [c for c in plan if c.model == label and todo[c.id]]
            if conditions:
                _run_model(run, config, slot, spec, conditions, todo, directions, bar)
    finally:
        bar.close()
        slot.release()
    summary = summarize(run, config, len(problems))
    run.write_json("summary.json", summary)
    n_total = sum(1 for _ in run.generations())
    return RunResult(run.path, n_todo, n_total, time.perf_counter() - start, summary)


def _run_model(
    run: RunDir,
    config: RunSettings,
    slot: ModelSlot,
    spec: str,
    conditions: Sequence[Condition],
    todo: dict[str, list[Any]],
    directions: dict[str, Direction],
    bar: tqdm,
) -> None:
    if config.engine == "vllm":
        _run_model_vllm(run, config, slot, spec, conditions, todo, directions, bar)
        return
    hf_model, tokenizer = slot.load(spec)
    n_layers, d_model = int(hf_model.config.num_hidden_layers), int(hf_model.config.hidden_size)
    target = check_fit(
        list(directions.values()), config.hooks, n_layers=n_layers, d_model=d_model, model=spec
    )
    prompt_ids = encode_prompts([p for ps in todo.values() for p in ps], tokenizer, config)
    run_conditions(
        run, config, conditions, todo, prompt_ids, directions, target, hf_model, tokenizer, bar
    )
    gc.collect()


def _run_model_vllm(
    run: RunDir,
    config: RunSettings,
    slot: ModelSlot,
    spec: str,
    conditions: Sequence[Condition],
    todo: dict[str, list[Any]],
    directions: dict[str, Direction],
    bar: tqdm,
) -> None:
    from experiments.generation.vllm_engine import VLLMEngine

    slot.release()  # the HF copy (set-up, baselines) is not needed while vLLM holds the model
    with VLLMEngine.session(spec, dtype=config.dtype) as engine:  # the caller's, if it holds one
        target = check_fit(
            list(directions.values()),
            config.hooks,
            n_layers=engine.n_layers,
            d_model=engine.d_model,
            model=spec,
        )
        prompt_ids = encode_prompts(
            [p for ps in todo.values() for p in ps], engine.tokenizer, config
        )
        run_conditions_vllm(
            run, config, conditions, todo, prompt_ids, directions, target, engine, bar
        )
