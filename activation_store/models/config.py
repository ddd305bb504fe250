"""Which model to load, where, and in what precision."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from activation_store.core.errors import InputError

Dtype = Literal["float32", "bfloat16", "float16"]
DeviceMap = Literal["auto", "balanced", "sequential"]
DEVICE_PATTERN = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")


class ModelConfigError(InputError, ValueError):
    """A :class:`ModelConfig` field has an invalid value (a ``ValueError`` and a one-line CLI error)."""


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The model to load; the same object is the Python API and the ``--model …`` CLI options."""

    model: str
    """Spec name ("tiny-llama", "tiny-gpt", or a registered one) or a local Hugging Face directory
    (config.json, tokenizer files, *.safetensors). Nothing is ever downloaded."""

    device: str = "cpu"
    """Where the model runs: "cpu", "cuda", "cuda:N", or "auto" (the first CUDA GPU if visible,
    else the CPU)."""

    dtype: Dtype = "float32"
    """Parameter and activation precision. bfloat16 halves memory (an 8B model needs ~16 GB); float16
    is for GPUs only."""

    device_map: DeviceMap | None = None
    """Split a local checkpoint too big for one GPU over every visible one (accelerate's
    ``device_map``: auto, balanced or sequential; None: the whole model on ``device``). Used by
    caching (``backtrack cache``), whose inputs go to the first block's device and whose hooks
    read each block where it lives; the other commands refuse it."""

    seed: int = 0
    """Seed of the random weights of tiny test specs; ignored for real checkpoints."""

    n_ctx: int | None = None
    """Longest input the TransformerLens model accepts (None: the checkpoint's own, e.g. 131072 for
    Llama-3.1). TransformerLens 3.9 grows its rotary tables and masks lazily, so a large value
    costs no memory up front; longer inputs fail in the forward pass."""

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ModelConfigError(
                f"model={self.model!r} is empty; pass a spec name (e.g. tiny-llama) or a local "
                "Hugging Face directory"
            )
        if not DEVICE_PATTERN.match(self.device):
            raise ModelConfigError(
                f"device={self.device!r} is not a device; use cpu, cuda, cuda:N or auto"
            )
        if self.dtype not in get_args(Dtype):
            raise ModelConfigError(
                f"dtype={self.dtype!r} is not supported; use one of {', '.join(get_args(Dtype))}"
            )
        if self.device_map is not None and self.device_map not in get_args(DeviceMap):
            raise ModelConfigError(
                f"device_map={self.device_map!r} is not supported; use "
                f"{', '.join(get_args(DeviceMap))} or none"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ModelConfigError(f"seed={self.seed!r} must be a non-negative integer")
        if self.n_ctx is not None and (
            isinstance(self.n_ctx, bool) or not isinstance(self.n_ctx, int) or self.n_ctx < 1
        ):
            raise ModelConfigError(
                f"n_ctx={self.n_ctx!r} must be a positive integer or None (the model's own length)"
            )
