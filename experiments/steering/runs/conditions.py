"""The unit of work of a run: one condition's remaining prompts, batch by batch."""

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
    if condition.random_k:
        seed = int(condition.random_seed or 0)
        basis = random_subspace(target.d_model, condition.random_k, seed)
        vector = None if mean is None else mean.vector
        ablated: Sequence[Direction] | ProjectOut = ProjectOut(basis, [condition.group], vector)
        hooks = hooks or [next(iter(target.direction_hooks.values()))]
    else:
        ablated = chosen
        hooks = hooks or [target.direction_hooks[chosen[0].name]]
    return ablate_interventions(ablated, hooks, positions=positions, mean=mean)


def run_condition(
    run: RunDir,
    config: RunSettings,
    condition: Condition,
    problems: Sequence[Problem],
    prompt_ids: dict[str, list[int]],
    directions: dict[str, Direction],
    target: ModelTarget,
    hf_model: Any,
    tokenizer: Any,
    bar: tqdm,
) -> None:
    """Generate ``problems`` under ``condition`` and append them to the run, a batch at a time."""
    from experiments.generation import generate
    from experiments.steering.interventions.hf import steer_hf

    interventions = interventions_for(condition, directions, config, target)
    gen_config = generation_config(config, condition.seed)
    ordered = sorted(problems, key=lambda p: -len(prompt_ids[p.id]))  # less padding per batch
    for start in range(0, len(ordered), config.batch_size):
        batch = ordered[start : start + config.batch_size]
        with steer_hf(hf_model, interventions) as handle:
            outs = generate(
                hf_model, tokenizer, [prompt_ids[p.id] for p in batch], gen_config, progress=False
            )
        perplexities = _perplexities(hf_model, tokenizer, outs, config)
        records = [
            _record(condition, problem, out, ppl, config, prompt_end(tokenizer, out.prompt_ids))
            for problem, out, ppl in zip(batch, outs, perplexities, strict=True)
        ]
        run.append(
            records,
            {
                "condition": condition.id,
                "prompt_ids": [p.id for p in batch],
                "interventions": handle.record(),
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


def _record(
    condition: Condition,
    problem: Problem,
    out: Any,
    perplexity: float | None,
    config: RunSettings,
    context: str,
) -> dict[str, Any]:
    metrics = measure(
        out.text,
        out.generated_ids,
        answer=problem.answer,
        perplexity=perplexity,
        max_repetition=config.max_repetition,
        context=context,
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
