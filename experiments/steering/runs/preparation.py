"""Set up a run: choose the directions, add runtime baselines, plan the conditions, write them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from activation_store.core.errors import InputError
from activation_store.direction import Direction, save_direction
from experiments.steering.interventions.from_directions import ablation_operator
from experiments.steering.interventions.positions import describe_positions, parse_positions
from experiments.steering.runs.config import AblationConfig, RunSettings, SweepConfig
from experiments.steering.runs.environment import environment
from experiments.steering.runs.inputs import (
    check_fit,
    checkpoint_shape,
    held_out_selection,
    select_directions,
)
from experiments.steering.runs.metrics import METRIC_MEANINGS, labeller_info
from experiments.steering.runs.plan import Condition, ablation_plan, sweep_plan
from experiments.steering.runs.rundir import RunDir
from probes.baselines import random_baselines, references, token_baselines
from probes.token_space import TokenSpace

logger = logging.getLogger(__name__)

LoadModel = Callable[[str], Any]
"""Loads a model spec → ``(hf_model, tokenizer)`` (shared with the runner, so it loads once)."""


@dataclass(frozen=True)
class Setup:
    """A run's directions (runtime baselines included) and conditions, checked, not yet written."""

    directions: list[Direction]
    plan: list[Condition]
    residual_shares: dict[str, Any] | None = None
    """Ablation with a store: each ablated group's share of the residual (see
    :func:`experiments.steering.runs.subspaces.residual_share`)."""


def prepare(config: RunSettings, load: LoadModel) -> Setup:
    """Choose directions, add baselines, plan the conditions; every check that can fail early."""
    directions = select_directions(config)
    for spec in config.models:
        shape = checkpoint_shape(spec)
        if shape is None and spec == config.models[0]:
            hf_model, _ = load(spec)  # a spec name: the first model is needed first anyway
            shape = (int(hf_model.config.num_hidden_layers), int(hf_model.config.hidden_size))
        if shape is not None:
            check_fit(directions, config.hooks, n_layers=shape[0], d_model=shape[1], model=spec)
    if isinstance(config, SweepConfig):
        directions = directions + _baselines(config, directions, load)
        plan = sweep_plan(config, [d.name for d in directions])
    elif isinstance(config, AblationConfig):
        _check_ablation(config, directions)
        plan = ablation_plan(config, [d.name for d in directions])
        directions = directions + _mean_direction(config, directions)
        if config.store:
            from experiments.steering.runs.ablation_setup import matched_and_shares

            matched, shares = matched_and_shares(config, directions, plan)
            return Setup(directions + matched, plan, shares)
    else:
        raise TypeError(f"unknown config type {type(config).__name__}")
    return Setup(directions, plan)


def write_setup(run: RunDir, config: RunSettings, setup: Setup) -> None:
    """Write ``directions/``, ``environment.json`` and, last, ``plan.json``."""
    for direction in setup.directions:
        save_direction(direction, run.directions_dir)
    run.write_json("environment.json", environment(config.device))
    plan = _plan_json(config, setup.directions, setup.plan)
    if setup.residual_shares is not None:
        plan["residual_shares"] = setup.residual_shares
    run.write_json("plan.json", plan)


def _baselines(
    config: SweepConfig, directions: Sequence[Direction], load: LoadModel
) -> list[Direction]:
    kinds = {d.kind for d in directions}
    made = {"made_by": "sweep"}
    added: list[Direction] = []
    if config.n_random and "random" not in kinds:
        seeds = [config.random_seed + i for i in range(config.n_random)]
        for reference in references(directions):
            added += random_baselines(reference, seeds, provenance=made)
    if config.token_baselines and not kinds & {"embedding", "unembedding"}:
        hf_model, tokenizer = load(config.models[0])
        space = TokenSpace.from_hf(hf_model, tokenizer, model_id=config.models[0])
        for reference in references(directions):
            added += token_baselines(space, reference, config.token_baselines, provenance=made)
    taken = {d.name for d in directions}
    clash = [d.name for d in added if d.name in taken]
    if clash:
        raise InputError(f"baseline name {clash[0]!r} is taken by a direction in directions_dir")
    if added:
        logger.info(
            "added %d baseline directions: %s", len(added), ", ".join(d.name for d in added)
        )
    return added


def _mean_direction(config: AblationConfig, directions: Sequence[Direction]) -> list[Direction]:
    """The mean activation that mean-ablation keeps (none without the mean mode), checked."""
    if "mean" not in config.modes:
        return []
    from activation_store.direction import load_direction

    if config.mean_direction in {d.name for d in directions}:
        raise InputError(
            f"mean_direction {config.mean_direction!r} is also in the ablation set; ablate "
            "candidate directions and name the mean activation only in mean_direction"
        )
    mean = load_direction(config.mean_direction, directory=config.directions_dir)
    if mean.kind != "mean_activation" or mean.hook != directions[0].hook:
        raise InputError(
            f"mean_direction {mean.name!r} is a {mean.kind} at {mean.hook}; name the "
            f"mean_activation direction at {directions[0].hook} (e.g. ..._mean)"
        )
    return [mean]


def _check_ablation(config: AblationConfig, directions: Sequence[Direction]) -> None:
    hooks = {d.hook for d in directions}
    if not config.hooks and len(hooks) > 1:
        raise InputError(
            f"directions to ablate sit at different hooks ({', '.join(sorted(hooks))}); "
            "set hooks to say where to project them out"
        )
    ablation_operator(directions[: max(config.ks)])  # refuses dependent sets before generating


def _plan_json(
    config: RunSettings, directions: Sequence[Direction], plan: Sequence[Condition]
) -> dict[str, Any]:
    positions = parse_positions(config.positions)
    selected = held_out_selection(config)
    return {
        "prompts": {
            "selection": selected.how,
            "categories": selected.categories,
            "ids": [p.id for p in selected.problems],
        },
        "conditions": [c.to_json() for c in plan],
        "directions": {
            d.name: {"kind": d.kind, "model": d.model, "hook": d.hook, "norm": d.norm}
            for d in directions
        },
        "positions": str(positions),
        "positions_meaning": describe_positions(positions),
        "alpha_unit": getattr(config, "alpha_unit", None),
        "metric_meanings": METRIC_MEANINGS,
        "labeller": labeller_info(),
    }
