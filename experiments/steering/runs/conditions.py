"""The work of a run on one model: its conditions' remaining prompts, in mixed batches."""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from activation_store.direction import Direction
from activation_store.models import ModelConfig
from activation_store.models.hooks import HookSpec
from experiments.steering.interventions.from_directions import (
    ablate_interventions,
    add_interventions,
)
from experiments.steering.interventions.intervention import Intervention
from experiments.steering.interventions.operators import ProjectOut, random_subspace
from experiments.steering.interventions.positions import parse_positions
from experiments.steering.runs.config import AblationConfig, RunSettings, SweepConfig
from experiments.steering.runs.inputs import ModelTarget
from experiments.steering.runs.metrics import measure
from experiments.steering.runs.metrics.perplexity import generation_perplexities
from experiments.steering.runs.plan import Condition, group_alphas
from experiments.steering.runs.rundir import RunDir

if TYPE_CHECKING:
    from tqdm.auto import tqdm

    from experiments.generation import GenerationConfig
    from experiments.prompts import Problem

logger = logging.getLogger(__name__)


class ModelSlot:
    """Holds one loaded model at a time (two 8B models rarely fit together)."""

    def __init__(self, config: RunSettings) -> None:
        self.config = config
        self.spec: str | None = None
        self.loaded: tuple[Any, Any] | None = None

    def load(self, spec: str) -> tuple[Any, Any]:
        """``(hf_model, tokenizer)`` of ``spec``; the previous model is released first."""
        from activation_store.models import load_hf_model

        if self.spec != spec or self.loaded is None:
            self.release()
            config = ModelConfig(model=spec, device=self.config.device, dtype=self.config.dtype)
            self.loaded, self.spec = load_hf_model(config), spec
        return self.loaded

    def release(self) -> None:
        self.loaded, self.spec = None, None
        gc.collect()


def interventions_for(
    condition: Condition,
    directions: dict[str, Direction],
    config: RunSettings,
    target: ModelTarget,
) -> list[Intervention]:
    """The interventions that realise ``condition`` on the model ``target`` was resolved for."""
    if condition.operation == "none":
        return []
    chosen = [directions[n] for n in condition.directions]
    hooks: Sequence[HookSpec] | None = target.hooks or None
    positions = parse_positions(config.positions)
    if condition.operation == "add":
        if not isinstance(config, SweepConfig):
            raise TypeError("steering ('add') conditions come only from a SweepConfig")
        return add_interventions(
            chosen,
            group_alphas(condition, config.group_scale),
            unit=config.alpha_unit,
            hooks=hooks,
            positions=positions,
        )
    mean = None
    if condition.operation == "mean_ablate":
        if not isinstance(config, AblationConfig):
            raise TypeError("mean-ablation conditions come only from an AblationConfig")
        mean = directions[config.mean_direction]
    if condition.random_k and condition.random_kind == "isotropic":
        seed = int(condition.random_seed or 0)
        basis = random_subspace(target.d_model, condition.random_k, seed)
        vector = None if mean is None else mean.vector
        ablated: Sequence[Direction] | ProjectOut = ProjectOut(basis, [condition.group], vector)
        hooks = hooks or [next(iter(target.direction_hooks.values()))]
    else:  # named directions, or a variance-matched subspace's saved basis
        ablated = chosen
        hooks = hooks or [target.direction_hooks[chosen[0].name]]
    return ablate_interventions(ablated, hooks, positions=positions, mean=mean)


def run_conditions(
    run: RunDir,
    config: RunSettings,
    conditions: Sequence[Condition],
    todo: dict[str, list[Problem]],
    prompt_ids: dict[str, list[int]],
    directions: dict[str, Direction],
    target: ModelTarget,
    hf_model: Any,
    tokenizer: Any,
    bar: tqdm,
) -> None:
    """Generate every remaining prompt of ``conditions`` (one model) in mixed batches.

    All conditions' rows share one continuous batch (:func:`experiments.generation.stream`),
    each row steered by its own condition's interventions
    (:func:`~experiments.steering.interventions.rows.steer_hf_rows`). Whenever ``batch_size``
    generations have finished they are scored (perplexity under the unsteered model: hooks
    paused) and appended to the run, one ``interventions.jsonl`` line per condition among them.
    Rows join condition by condition, each condition's prompts longest first; every row samples
    from its own stream (the condition's seed and the prompt's tokens), so nothing depends on
    batch-mates, on the order or on resuming.
    """
    from experiments import generation
    from experiments.generation.sampling import row_seeds
    from experiments.steering.interventions.rows import steer_hf_rows

    cells = [interventions_for(c, directions, config, target) for c in conditions]
    requests = [
        (k, problem)
        for k, condition in enumerate(conditions)
        for problem in sorted(todo[condition.id], key=lambda p: -len(prompt_ids[p.id]))
    ]
    if not requests:
        return
    prompts = [prompt_ids[p.id] for _, p in requests]
    seeds = [row_seeds(conditions[k].seed, [prompt_ids[p.id]])[0] for k, p in requests]
    gen_config = generation_config(config, 0)
    pending: list[tuple[int, Any]] = []

    def flush(handle: Any) -> None:
        if not pending:
            return
        with handle.paused():
            perplexities = _perplexities(hf_model, tokenizer, [o for _, o in pending], config)
        by_condition: dict[int, list[tuple[int, Any, float | None]]] = {}
        for (r, out), ppl in zip(pending, perplexities, strict=True):
            by_condition.setdefault(requests[r][0], []).append((r, out, ppl))
        for k, rows in by_condition.items():
            condition = conditions[k]
            run.append(
                [
                    _record(
                        condition,
                        requests[r][1],
                        out,
                        ppl,
                        config,
                        prompt_end(tokenizer, out.prompt_ids),
                        prompt_thinks(tokenizer, out.prompt_ids),
                    )
                    for r, out, ppl in rows
                ],
                {
                    "condition": condition.id,
                    "prompt_ids": [requests[r][1].id for r, _, _ in rows],
                    "interventions": handle.record(k, [r for r, _, _ in rows]),
                    "batch": "mixed",
                },
            )
            bar.set_postfix_str(
                f"{condition.model} {condition.group} α={condition.alpha:g}", refresh=False
            )
        bar.update(len(pending))
        pending.clear()

    with steer_hf_rows(hf_model, cells, n_rows=len(requests)) as handle:

        def on_forward(
            rows: Sequence[int],
            lengths: Sequence[int],
            shared: Sequence[Sequence[int]] | None,
        ) -> None:
            handle.assign(rows, [requests[r][0] for r in rows], lengths, shared)

        for finished in generation.stream(
            hf_model,
            tokenizer,
            prompts,
            gen_config,
            seeds=seeds,
            on_forward=on_forward,
            groups=[k for k, _ in requests],  # a condition's prompts share their common prefix
        ):
            pending.extend(finished)
            if len(pending) >= config.batch_size:
                flush(handle)
        flush(handle)


def run_conditions_vllm(
    run: RunDir,
    config: RunSettings,
    conditions: Sequence[Condition],
    todo: dict[str, list[Problem]],
    prompt_ids: dict[str, list[int]],
    directions: dict[str, Direction],
    target: ModelTarget,
    engine: Any,
    bar: tqdm,
) -> None:
    """As :func:`run_conditions`, on a :class:`~experiments.generation.vllm_engine.VLLMEngine`.

    vLLM batches requests itself (continuously); a condition's interventions are installed in its
    workers for that condition's chunks of ``batch_size`` prompts (give vLLM a large one), one
    ``interventions.jsonl`` line per chunk. Changed positions are counted from each generation's
    prompt and generated lengths (what the hooks change: all, or a START:STOP window).
    """
    from experiments.generation.sampling import row_seeds
    from experiments.steering.interventions.vllm import positions_changed

    gen_config = generation_config(config, 0)
    for condition in conditions:
        interventions = interventions_for(condition, directions, config, target)
        ordered = sorted(todo[condition.id], key=lambda p: -len(prompt_ids[p.id]))
        for start in range(0, len(ordered), config.batch_size):
            batch = ordered[start : start + config.batch_size]
            prompts = [prompt_ids[p.id] for p in batch]
            with engine.steer(interventions):
                outs = engine.generate(
                    prompts,
                    gen_config,
                    seeds=[row_seeds(condition.seed, [p])[0] for p in prompts],
                )
            perplexities: list[float | None] = (
                engine.perplexities(prompts, [o.generated_ids for o in outs])
                if config.perplexity
                else [None] * len(outs)
            )
            changed = [
                [
                    positions_changed(iv.positions, len(o.prompt_ids), len(o.generated_ids))
                    for o in outs
                ]
                for iv in interventions
            ]
            run.append(
                [
                    _record(
                        condition,
                        problem,
                        out,
                        ppl,
                        config,
                        prompt_end(engine.tokenizer, out.prompt_ids),
                        prompt_thinks(engine.tokenizer, out.prompt_ids),
                    )
                    for problem, out, ppl in zip(batch, outs, perplexities, strict=True)
                ],
                {
                    "condition": condition.id,
                    "prompt_ids": [p.id for p in batch],
                    "interventions": [
                        {
                            **iv.describe(),
                            "positions_changed": {
                                part: sum(c[part] for c in rows) for part in ("prompt", "generated")
                            },
                        }
                        for iv, rows in zip(interventions, changed, strict=True)
                    ],
                    "batch": "vllm",
                },
            )
            bar.update(len(batch))
            bar.set_postfix_str(
                f"{condition.model} {condition.group} α={condition.alpha:g}", refresh=False
            )


def generation_config(config: RunSettings, seed: int) -> GenerationConfig:
    """The decoding settings of a run, for one generation seed."""
    from experiments.generation import GenerationConfig

    return GenerationConfig(
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        seed=seed,
        batch_size=config.batch_size,
        stop_at_think_end=config.stop_at_think_end,
        stop_at_answer=config.stop_at_answer,
    )


def _perplexities(
    hf_model: Any, tokenizer: Any, outs: Sequence[Any], config: RunSettings
) -> list[float | None]:
    if not config.perplexity:
        return [None] * len(outs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return generation_perplexities(
        hf_model,
        [o.prompt_ids for o in outs],
        [o.generated_ids for o in outs],
        pad_id=int(pad),
        batch_size=config.batch_size,
    )


def prompt_end(tokenizer: Any, prompt_ids: Sequence[int], n_tokens: int = 32) -> str:
    """The text of a prompt's last tokens: the context a generation's first sentence continues."""
    return str(tokenizer.decode(list(prompt_ids[-n_tokens:]), skip_special_tokens=True))


def prompt_thinks(tokenizer: Any, prompt_ids: Sequence[int], n_tokens: int = 32) -> bool:
    """Whether a prompt leaves the model thinking (an open ``<think>`` in its last tokens, special
    tokens kept): its final answer then has to follow ``</think>``."""
    from experiments.generation.answers import opens_thinking

    tail = tokenizer.decode(list(prompt_ids[-n_tokens:]), skip_special_tokens=False)
    return opens_thinking(str(tail))


def _record(
    condition: Condition,
    problem: Problem,
    out: Any,
    perplexity: float | None,
    config: RunSettings,
    context: str,
    thinking: bool,
) -> dict[str, Any]:
    metrics = measure(
        out.text,
        out.generated_ids,
        answer=problem.answer,
        perplexity=perplexity,
        max_repetition=config.max_repetition,
        context=context,
        thinking=thinking,
    )
    return {
        "condition": condition.id,
        "prompt_id": problem.id,
        "model": condition.model,
        "seed": condition.seed,
        "category": problem.category,
        "answer": problem.answer,
        "prompt_len": len(out.prompt_ids),
        "generated_ids": out.generated_ids,
        "text": out.text,
        "finish_reason": out.finish_reason,
        "metrics": metrics.to_json(),
    }
