"""A run's inputs: held-out prompts as token ids, and the directions, checked against each model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from activation_store.core.errors import InputError
from activation_store.direction import Direction, check_same_space, load_directions
from activation_store.models.hooks import HookSpec, expand_hooks, parse_hook
from experiments.steering.runs.config import RunSettings

if TYPE_CHECKING:
    from experiments.prompts import Problem
    from experiments.prompts.selection import Selected


def held_out_problems(config: RunSettings) -> list[Problem]:
    """``n_prompts`` of ``config.split`` (held out from direction derivation), chosen by
    ``config.prompt_selection``."""
    return held_out_selection(config).problems


def held_out_selection(config: RunSettings) -> Selected:
    """The held-out prompts with the categories they cover (see :func:`held_out_problems`)."""
    from experiments.prompts import SPLITS, load_prompts

    if config.split not in SPLITS:
        raise InputError(f"split {config.split!r} is unknown; use one of {', '.join(SPLITS)}")
    try:
        problems = load_prompts(config.prompts, split=config.split)  # type: ignore[arg-type]
    except InputError as err:
        if "no prompts left" not in str(err):
            raise
        raise InputError(
            f"no held-out prompts: {config.prompts} has no prompt with split={config.split!r}; "
            f'mark held-out prompts with "split": "{config.split}" (steer only on prompts no '
            "direction was derived from)"
        ) from err
    from experiments.prompts.selection import select_prompts

    return select_prompts(
        problems, config.n_prompts, how=config.prompt_selection, seed=config.prompt_seed
    )


def encode_prompts(
    problems: Sequence[Problem], tokenizer: Any, config: RunSettings
) -> dict[str, list[int]]:
    """Prompt token ids by problem id, with the model's chat template per ``config.chat_template``."""
    from experiments.traces.prompting import prompt_ids

    has_template = bool(getattr(tokenizer, "chat_template", None))
    if config.chat_template == "on" and not has_template:
        raise InputError(
            "chat_template=on, but a model's tokenizer has no chat template; use auto or off"
        )
    chat = has_template and config.chat_template != "off"
    return {
        p.id: prompt_ids(tokenizer, p.prompt, chat=chat, plain_template=config.plain_template)
        for p in problems
    }


class DirectionSource(Protocol):
    """A config naming saved directions (every run config does)."""

    @property
    def directions_dir(self) -> str: ...

    @property
    def directions(self) -> tuple[str, ...]: ...


def select_directions(config: DirectionSource) -> list[Direction]:
    """The named directions (or all) from ``config.directions_dir``, in one residual space."""
    directory = Path(config.directions_dir)
    if not directory.is_dir():
        raise InputError(
            f"directions_dir {config.directions_dir!r} is not a directory; point it at the "
            "directions saved by the probes or SAE step"
        )
    directions = load_directions(directory, config.directions or None)
    if not directions:
        raise InputError(f"no directions (*.safetensors + *.json) in {config.directions_dir!r}")
    check_same_space(directions)
    return directions


@dataclass(frozen=True)
class ModelTarget:
    """What a run intervenes on in one model, resolved once per model: parsed, checked hooks."""

    n_layers: int
    d_model: int
    hooks: tuple[HookSpec, ...]
    """The run's ``hooks`` (``blocks.*`` expanded); empty: each direction at its own hook."""
    direction_hooks: dict[str, HookSpec]
    """Each direction's own hook, by direction name."""


def check_fit(
    directions: Sequence[Direction],
    hooks: Sequence[str],
    *,
    n_layers: int,
    d_model: int,
    model: str,
) -> ModelTarget:
    """Directions of ``model``'s width, at hooks that exist in it; one-line errors otherwise."""
    for d in directions:
        if d.d_model != d_model:
            raise InputError(
                f"direction {d.name!r} has d_model {d.d_model} but model {model!r} has {d_model}; "
                "use directions derived in this model's residual space"
            )

    def resolve(name: str) -> HookSpec:
        return parse_hook(name, n_layers, has_pos_embed=True)

    return ModelTarget(
        n_layers=n_layers,
        d_model=d_model,
        hooks=tuple(resolve(h) for h in expand_hooks(hooks, n_layers)),
        direction_hooks={d.name: resolve(d.hook) for d in directions},
    )


def checkpoint_shape(spec: str) -> tuple[int, int] | None:
    """(n_layers, d_model) of a local checkpoint from its config.json, without loading weights."""
    config_file = Path(spec).expanduser() / "config.json"
    if not config_file.is_file():
        return None
    try:
        cfg = json.loads(config_file.read_text())
        cfg = cfg.get("text_config", cfg)
        n_layers = cfg.get("num_hidden_layers", cfg.get("n_layer"))
        d_model = cfg.get("hidden_size", cfg.get("n_embd"))
    except (OSError, ValueError, AttributeError):
        return None
    return (int(n_layers), int(d_model)) if n_layers and d_model else None
