"""Install the same interventions on a TransformerLens ``HookedTransformer`` via its hook points.

For full-sequence forwards (analysis, parity checks, teacher-forced scoring); generation uses the
Hugging Face path (:func:`experiments.steering.interventions.hf.steer_hf`), which is several times faster. TL's
cached ``generate`` is not position-tracked here: its calls would all count as prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from experiments.steering.interventions.handle import ChangeCounter, SteeringHandle
from experiments.steering.interventions.intervention import Intervention
from experiments.steering.interventions.positions import CallPositions, call_positions
from experiments.steering.interventions.validation import check_interventions

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


def steer_tl(
    model: HookedTransformer,
    interventions: Sequence[Intervention],
    *,
    attention_mask: Tensor | None = None,
    prompt_lengths: Sequence[int] | None = None,
) -> SteeringHandle:
    """Install ``interventions`` on ``model``'s hook points; returns a handle (a context manager).

    ``attention_mask`` ``[batch, pos]`` marks pads (default: none); ``prompt_lengths`` (one per row)
    says where the prompt ends (default: every token is prompt). Hooks are plain PyTorch hooks on
    the hook points, so ``model.reset_hooks()`` leaves them alone and ``remove()`` removes only them.
    """
    cfg = model.cfg
    check_interventions(
        interventions,
        n_layers=int(cfg.n_layers),
        d_model=int(cfg.d_model),
        has_pos_embed=cfg.positional_embedding_type != "rotary",
    )
    pinned = None if prompt_lengths is None else torch.tensor(list(prompt_lengths))
    counters = [ChangeCounter() for _ in interventions]
    removers: list[Callable[[], None]] = []
    for iv, counter in zip(interventions, counters, strict=True):
        hook_point = model.hook_dict[iv.spec.name]
        h = hook_point.register_forward_hook(_hook(iv, counter, attention_mask, pinned))
        removers.append(h.remove)
    return SteeringHandle(interventions, counters, removers)


def _hook(
    iv: Intervention, counter: ChangeCounter, attention_mask: Tensor | None, pinned: Tensor | None
) -> Callable[..., Tensor]:
    def hook(module: torch.nn.Module, args: tuple[Any, ...], resid_BTD: Tensor) -> Tensor:
        positions = _positions(resid_BTD, attention_mask, pinned)
        mask_BT = positions.mask(iv.positions)
        counter.add(mask_BT, positions)
        return iv.operator(resid_BTD, mask_BT)

    return hook


def _positions(
    resid_BTD: Tensor, attention_mask: Tensor | None, pinned: Tensor | None
) -> CallPositions:
    batch, n = resid_BTD.shape[:2]
    if attention_mask is None:
        mask_BS = torch.ones(batch, n, dtype=torch.bool, device=resid_BTD.device)
    else:
        mask_BS = attention_mask.to(resid_BTD.device)
    if pinned is None:
        pinned = torch.full((batch,), n)
    return call_positions(mask_BS, n, prompt_lengths=pinned)
