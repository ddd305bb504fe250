"""Encoder view: which features the SAE's encoder reads in the direction.

Two readings, both through sae_lens's ``encode``:

- the direction alone, scaled to a typical residual norm (``scale``): which features fire on it.
  The SAE never saw a lone direction without the rest of a residual stream (its biases expect
  one), so treat this as a rough reading;
- steering-like: ``encode(mean + α·scale·unit) − encode(mean)`` for each α, where ``mean`` is the
  mean activation at the hook: which features a steering intervention of that size switches on
  (or off) at a typical point of the residual stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from jaxtyping import Float
from torch import Tensor

from activation_store.core.errors import InputError
from sae_analysis.methods.cosine import FeatureScore

if TYPE_CHECKING:
    from sae_lens import SAE

CHANGED = 1e-6
"""A feature "changed" when |Δ activation| exceeds this share of the largest |Δ| at that α."""


@dataclass(frozen=True, kw_only=True)
class AlphaResponse:
    """Feature changes when α·scale·unit is added to the mean activation."""

    alpha: float
    increased: tuple[FeatureScore, ...]
    """Largest increases (score = Δ activation), largest first; only features that rose."""
    decreased: tuple[FeatureScore, ...]
    """Largest decreases (score = Δ activation, negative), most negative first."""
    n_changed: int
    """Features whose activation changed at all."""


@dataclass(frozen=True, kw_only=True)
class EncoderView:
    """The SAE's encoder applied to the direction."""

    scale: float
    """Norm the unit direction was scaled to (the mean residual norm at the hook)."""
    on_direction: tuple[FeatureScore, ...]
    """Features active on ``scale·unit``, most active first (at most ``top_k``)."""
    n_active_on_direction: int
    responses: tuple[AlphaResponse, ...]
    acts_on_direction: Float[Tensor, " d_sae"]
    """encode(scale·unit), float32 CPU."""
    deltas: Float[Tensor, "n_alpha d_sae"]
    """encode(mean + α·scale·unit) − encode(mean) for each α, float32 CPU."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "alpha_unit": "mean residual norm × unit direction",
            "on_direction": [vars(f) for f in self.on_direction],
            "n_active_on_direction": self.n_active_on_direction,
            "responses": [
                {
                    "alpha": r.alpha,
                    "increased": [vars(f) for f in r.increased],
                    "decreased": [vars(f) for f in r.decreased],
                    "n_changed": r.n_changed,
                }
                for r in self.responses
            ],
        }


@torch.no_grad()
def encoder_view(
    sae: SAE[Any],
    direction: Float[Tensor, " d_in"],
    *,
    mean_activation: Float[Tensor, " d_in"],
    scale: float,
    alphas: Sequence[float],
    top_k: int = 10,
) -> EncoderView:
    """Encode the scaled direction, and the mean activation pushed along it by each α."""
    d_in = int(sae.cfg.d_in)
    if direction.shape != (d_in,) or mean_activation.shape != (d_in,):
        raise InputError(
            f"direction and mean activation must have the SAE's d_in={d_in}, got "
            f"{tuple(direction.shape)} and {tuple(mean_activation.shape)}"
        )
    if not scale > 0:
        raise InputError(f"scale={scale} must be positive (a typical residual norm)")
    device = sae.W_dec.device
    unit = (direction.float() / direction.float().norm()).to(device)
    mean_activation = mean_activation.float().to(device)
    inputs = torch.stack(
        [
            scale * unit,
            mean_activation,
            *(mean_activation + a * scale * unit for a in alphas),
        ]
    )
    acts = sae.encode(inputs).float().cpu()
    on_dir, base, pushed = acts[0], acts[1], acts[2:]
    deltas = pushed - base
    n_active = int((on_dir > 0).sum())
    top = torch.topk(on_dir, min(top_k, n_active)) if n_active else None
    return EncoderView(
        scale=float(scale),
        on_direction=_scores(top.indices, on_dir) if top is not None else (),
        n_active_on_direction=n_active,
        responses=tuple(_response(a, d, top_k) for a, d in zip(alphas, deltas, strict=True)),
        acts_on_direction=on_dir,
        deltas=deltas,
    )


def _response(alpha: float, delta: Tensor, top_k: int) -> AlphaResponse:
    biggest = float(delta.abs().max()) if delta.numel() else 0.0
    changed = (
        delta.abs() > CHANGED * biggest
        if biggest > 0
        else torch.zeros_like(delta, dtype=torch.bool)
    )
    n_up, n_down = (
        int((delta > 0).logical_and(changed).sum()),
        int((delta < 0).logical_and(changed).sum()),
    )
    up = torch.topk(delta, min(top_k, n_up)).indices if n_up else torch.zeros(0, dtype=torch.long)
    down = (
        torch.topk(-delta, min(top_k, n_down)).indices
        if n_down
        else torch.zeros(0, dtype=torch.long)
    )
    return AlphaResponse(
        alpha=float(alpha),
        increased=_scores(up, delta),
        decreased=_scores(down, delta),
        n_changed=int(changed.sum()),
    )


def _scores(indices: Tensor, values: Tensor) -> tuple[FeatureScore, ...]:
    return tuple(FeatureScore(index=int(i), score=float(values[i])) for i in indices)
