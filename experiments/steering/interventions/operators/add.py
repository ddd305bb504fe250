"""Activation addition: ``resid ← resid + Σ_i α_i v_i`` at the selected positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from activation_store.core.errors import InputError
from experiments.steering.interventions.operators.base import DeviceCache


@dataclass(frozen=True, kw_only=True, eq=False)
class SteeringTerm:
    """One added vector: ``coefficient × vector`` (the vector as given, e.g. a unit direction)."""

    name: str
    """Name of the direction, e.g. ``base_L10_dom``."""
    vector: Float[Tensor, " d_model"]
    """The vector that is scaled (float32)."""
    coefficient: float
    """Multiplier actually applied to ``vector`` (α converted to the vector's units)."""
    alpha: float
    """The α the user asked for, in ``unit``."""
    unit: str
    """What α is measured in: ``unit`` (× unit vector), ``mean_resid_norm``, or ``raw``."""


@dataclass(frozen=True, eq=False)
class AddVectors:
    """Add a fixed sum of scaled vectors to the residual stream."""

    terms: Sequence[SteeringTerm]
    """What is added; the sum is computed once in float32."""
    _delta: DeviceCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.terms:
            raise InputError("AddVectors needs at least one vector to add")
        dims = {int(t.vector.shape[-1]) for t in self.terms}
        if len(dims) != 1:
            raise InputError(f"steering vectors have different d_model {sorted(dims)}")
        delta_D = torch.zeros(dims.pop(), dtype=torch.float32)
        for term in self.terms:
            delta_D += term.coefficient * term.vector.detach().to("cpu", torch.float32)
        object.__setattr__(self, "_delta", DeviceCache(delta_D))

    @property
    def d_model(self) -> int:
        return int(self._delta.tensor.shape[0])

    @property
    def delta(self) -> Float[Tensor, " d_model"]:
        """The vector added at each selected position (float32, CPU)."""
        return self._delta.tensor

    def __call__(
        self, resid_BTD: Float[Tensor, "batch pos d_model"], mask_BT: Bool[Tensor, "batch pos"]
    ) -> Float[Tensor, "batch pos d_model"]:
        delta_D = self._delta.on(resid_BTD)
        return torch.where(mask_BT[..., None], resid_BTD + delta_D, resid_BTD)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "add",
            "norm_added": float(self.delta.norm()),
            "terms": [
                {
                    "direction": t.name,
                    "alpha": t.alpha,
                    "unit": t.unit,
                    "coefficient": t.coefficient,
                    "vector_norm": float(t.vector.norm()),
                }
                for t in self.terms
            ],
        }
