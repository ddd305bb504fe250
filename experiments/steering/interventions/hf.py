"""Install interventions on a plain Hugging Face causal LM with forward hooks.

This is the fast path for generation (Hugging Face's KV cache): each TransformerLens hook name maps
to the module that holds the same tensor (:func:`activation_store.models.hooks.hf_module_path`),
e.g. ``blocks.L.hook_resid_post`` → the output of ``model.layers.L``. A forward pre-hook on the
base model follows every call's attention mask and cache length, so positions are right in
left-padded batches, with and without the KV cache (see :mod:`experiments.steering.interventions.positions`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from activation_store.models.convert import architecture_of
from activation_store.models.hooks import GPT2_LIKE, HookSpec, hf_module_path
from experiments.steering.interventions.handle import ChangeCounter, SteeringHandle
from experiments.steering.interventions.intervention import Intervention
from experiments.steering.interventions.positions import CallPositions, PositionTracker
from experiments.steering.interventions.validation import check_interventions

if TYPE_CHECKING:
    from transformers import PreTrainedModel

logger = logging.getLogger(__name__)
_PATH = re.compile(r"^(?P<module>\S+) \((?P<where>input|output)(\[(?P<index>\d+)\])?\)$")


def steer_hf(
    hf_model: PreTrainedModel,
    interventions: Sequence[Intervention],
    *,
    prompt_lengths: Sequence[int] | None = None,
) -> SteeringHandle:
    """Install ``interventions`` on ``hf_model``; returns a handle (also a context manager).

    >>> with steer_hf(hf_model, add_interventions([direction], [8.0])) as handle:
    ...     generations = generate(hf_model, tokenizer, prompts, config)
    >>> handle.record()  # what changed, and at how many prompt / generated positions

    ``prompt_lengths`` (one per batch row) pins the prompt for a teacher-forced forward over prompt
    + continuation; during generation leave it out. Everything is validated before any hook is
    installed, and the hooks are removed on exit even when the body raises.
    """
    config = hf_model.config
    architecture = architecture_of(config)
    specs = check_interventions(
        interventions,
        n_layers=int(config.num_hidden_layers),
        d_model=int(config.hidden_size),
        has_pos_embed=architecture in GPT2_LIKE,
    )
    targets = [_target(hf_model, spec, architecture) for spec in specs]
    tracker = PositionTracker(prompt_lengths)
    counters = [ChangeCounter() for _ in interventions]
    removers: list[Callable[[], None]] = []
    base = hf_model.base_model
    handle = base.register_forward_pre_hook(_observer(tracker), with_kwargs=True)
    removers.append(handle.remove)
    for iv, counter, (module, where, index) in zip(interventions, counters, targets, strict=True):
        edit = _editor(iv, counter, tracker)
        if where == "input":
            h = module.register_forward_pre_hook(_input_hook(edit), with_kwargs=True)
        else:
            h = module.register_forward_hook(_output_hook(edit, index))
        removers.append(h.remove)
    return SteeringHandle(interventions, counters, removers)


def _target(
    hf_model: PreTrainedModel, spec: HookSpec, architecture: str
) -> tuple[torch.nn.Module, str, int | None]:
    match = _PATH.match(hf_module_path(spec, architecture))
    if match is None:  # pragma: no cover - hf_module_path only returns this form
        raise RuntimeError(f"unexpected module path for {spec.name}")
    index = int(match["index"]) if match["index"] is not None else None
    return hf_model.get_submodule(match["module"]), match["where"], index


def _observer(tracker: PositionTracker) -> Callable[..., None]:
    def observe(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        embeds = kwargs.get("inputs_embeds")
        reference = ids if ids is not None else embeds
        if reference is None:
            return
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        get_length = getattr(cache, "get_seq_length", None)
        past = int(get_length()) if get_length is not None else 0
        tracker.observe(
            int(reference.shape[0]),
            int(reference.shape[1]),
            attention_mask=kwargs.get("attention_mask"),
            past=past,
            input_ids=ids,
            device=reference.device,
        )

    return observe


def _editor(
    iv: Intervention, counter: ChangeCounter, tracker: PositionTracker
) -> Callable[[Tensor], Tensor]:
    def edit(resid_BTD: Tensor) -> Tensor:
        positions = tracker.current
        if positions is None or positions.token_index_BT.shape != resid_BTD.shape[:2]:
            positions = _all_prompt(resid_BTD)
        mask_BT = positions.mask(iv.positions)
        counter.add(mask_BT, positions)
        return iv.operator(resid_BTD, mask_BT)

    return edit


def _all_prompt(resid_BTD: Tensor) -> CallPositions:
    """Positions for a call the tracker did not see: no padding, everything is prompt."""
    batch, n = resid_BTD.shape[:2]
    index_BT = torch.arange(n, device=resid_BTD.device).expand(batch, n)
    return CallPositions(token_index_BT=index_BT, generated_BT=torch.zeros_like(index_BT).bool())


def _output_hook(edit: Callable[[Tensor], Tensor], index: int | None) -> Callable[..., Any]:
    def hook(module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if isinstance(output, tuple):
            items = list(output)
            items[index or 0] = edit(items[index or 0])
            return tuple(items)
        return edit(output)

    return hook


def _input_hook(edit: Callable[[Tensor], Tensor]) -> Callable[..., Any]:
    def hook(
        module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if args:
            return (edit(args[0]), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": edit(kwargs["hidden_states"])}

    return hook
