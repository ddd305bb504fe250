"""Ablate a subspace, then add vectors: replace a feature's value with a chosen one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jaxtyping import Bool, Float
from torch import Tensor

from activation_store.core.errors import InputError
from experiments.steering.interventions.operators.ablate import ProjectOut
from experiments.steering.interventions.operators.add import AddVectors


@dataclass(frozen=True, eq=False)
class AblateThenAdd:
    """``resid ← (I − QQᵀ) resid + Σ α_i v_i``: the stream's own component is replaced, not added to."""

    ablate: ProjectOut
    add: AddVectors

    def __post_init__(self) -> None:
        if self.ablate.d_model != self.add.d_model:
            raise InputError(
                f"ablated subspace has d_model {self.ablate.d_model} but the added vectors "
                f"{self.add.d_model}"
            )

    @property
    def d_model(self) -> int:
        return self.add.d_model

    def __call__(
        self, resid_BTD: Float[Tensor, "batch pos d_model"], mask_BT: Bool[Tensor, "batch pos"]
    ) -> Float[Tensor, "batch pos d_model"]:
        return self.add(self.ablate(resid_BTD, mask_BT), mask_BT)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "ablate_then_add",
            "ablate": self.ablate.describe(),
            "add": self.add.describe(),
        }
