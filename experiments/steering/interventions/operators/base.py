"""The protocol every steering operator follows."""

from __future__ import annotations

from typing import Any, Protocol

import torch
from jaxtyping import Bool, Float
from torch import Tensor


class Operator(Protocol):
    """Changes residual-stream activations at selected positions; pure (returns a new tensor)."""

    @property
    def d_model(self) -> int:
        """Width of the residual stream the operator acts on."""
        ...

    def __call__(
        self, resid_BTD: Float[Tensor, "batch pos d_model"], mask_BT: Bool[Tensor, "batch pos"]
    ) -> Float[Tensor, "batch pos d_model"]:
        """The activations with the operator applied where ``mask_BT`` is true, unchanged elsewhere."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-ready description (kind, directions, coefficients) for result files."""
        ...


class DeviceCache:
    """Copies of a float32 CPU tensor on the devices and dtypes it is used with (made once each)."""

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = tensor
        self._copies: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    def on(self, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        key = (like.device, dtype or like.dtype)
        copy = self._copies.get(key)
        if copy is None:
            copy = self.tensor.to(device=key[0], dtype=key[1])
            self._copies[key] = copy
        return copy
