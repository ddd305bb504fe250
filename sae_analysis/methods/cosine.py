"""Cosine of a direction with every decoder row: which features point the same (or opposite) way.

A feature whose decoder row is nearly parallel to the direction writes that direction when it
fires. Cosines in a high-dimensional space are small by default, so the result also reports the
largest |cosine| that random Gaussian directions reach against the same decoder (``null_max_abs``):
a top cosine near that level is no evidence of a shared feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from activation_store.core.errors import InputError
from sae_analysis.dictionary import decoder_matmul, decoder_norms


@dataclass(frozen=True, kw_only=True)
class FeatureScore:
    """One feature and its score (cosine, activation, ...)."""

    index: int
    score: float


@dataclass(frozen=True, kw_only=True)
class CosineResult:
    """Cosines of the direction with all decoder rows, summarised."""

    top_positive: tuple[FeatureScore, ...]
    """The ``top_k`` largest cosines, largest first."""
    top_negative: tuple[FeatureScore, ...]
    """The ``top_k`` most negative cosines, most negative first."""
    null_max_abs: tuple[float, ...]
    """max_i |cos(row_i, g)| for each of ``n_null`` seeded Gaussian directions g: the chance level."""
    cosines: Float[Tensor, " d_sae"]
    """All cosines (float32, CPU); zero for all-zero decoder rows."""
    decoder_norms: Float[Tensor, " d_sae"]
    """|W_dec[i]| of every feature (float32, CPU)."""

    @property
    def max_abs(self) -> float:
        return float(self.cosines.abs().max())

    def to_dict(self) -> dict[str, Any]:
        null = torch.tensor(self.null_max_abs) if self.null_max_abs else torch.zeros(1)
        return {
            "top_positive": [vars(f) for f in self.top_positive],
            "top_negative": [vars(f) for f in self.top_negative],
            "max_abs_cosine": self.max_abs,
            "null_max_abs_cosine": {
                "n": len(self.null_max_abs),
                "mean": float(null.mean()),
                "max": float(null.max()),
            },
        }


@torch.no_grad()
def decoder_cosines(
    W_dec: Float[Tensor, "d_sae d_in"],
    direction: Float[Tensor, " d_in"],
    *,
    top_k: int = 10,
    n_null: int = 8,
    seed: int = 0,
) -> CosineResult:
    """Cosine of ``direction`` with each row of ``W_dec``, its top features, and a chance level."""
    d_sae, d_in = W_dec.shape
    if direction.shape != (d_in,):
        raise InputError(
            f"direction has d_model {direction.shape[0]} but the SAE's d_in is {d_in}; "
            "use an SAE for the direction's model and hook"
        )
    norm = float(direction.norm())
    if norm == 0.0 or not torch.isfinite(direction).all():
        raise InputError("the direction has zero norm (or NaN entries); it has no cosine")
    if not 1 <= top_k <= d_sae:
        raise InputError(f"top_k={top_k} must be between 1 and the SAE's d_sae={d_sae}")
    gen = torch.Generator().manual_seed(seed)
    null = torch.randn(d_in, n_null, generator=gen, dtype=torch.float32)
    columns = torch.cat([direction.float()[:, None] / norm, null / null.norm(dim=0)], dim=1)
    norms = decoder_norms(W_dec)
    inv = torch.where(norms > 0, 1.0 / norms.clamp_min(1e-30), torch.zeros_like(norms))
    cos_FN = (decoder_matmul(W_dec, columns) * inv[:, None]).cpu()
    cos = cos_FN[:, 0].contiguous()
    pos = torch.topk(cos, top_k)
    neg = torch.topk(-cos, top_k)
    return CosineResult(
        top_positive=_scores(pos.indices, cos),
        top_negative=_scores(neg.indices, cos),
        null_max_abs=tuple(float(x) for x in cos_FN[:, 1:].abs().amax(dim=0)),
        cosines=cos,
        decoder_norms=norms.cpu(),
    )


def _scores(indices: Tensor, values: Tensor) -> tuple[FeatureScore, ...]:
    return tuple(FeatureScore(index=int(i), score=float(values[i])) for i in indices)
