"""Turn user-facing device and dtype names into torch objects, with one-line errors."""

from __future__ import annotations

import logging

import torch

from activation_store.core.errors import ModelLoadError

logger = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
"""Accepted ``--dtype`` names."""


def resolve_device(name: str) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"`` → a device that exists here.

    ``"auto"`` picks ``cuda:0`` when a CUDA GPU is visible, else the CPU. Asking for a GPU that is
    not there is an error rather than a silent fallback: an 8B model on the CPU would just hang.
    """
    if name == "auto":
        device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
        logger.info("--device auto resolved to %s", device)
        return device
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ModelLoadError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from err
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f"--device {name} requested but no CUDA GPU is visible "
                "(torch.cuda.is_available() is False); use --device cpu"
            )
        count = torch.cuda.device_count()
        index = 0 if device.index is None else device.index
        if index >= count:
            raise ModelLoadError(
                f"--device {name} requested but only {count} CUDA GPU(s) are visible "
                f"(cuda:0..cuda:{count - 1}); pick one of those"
            )
        return torch.device("cuda", index)
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ModelLoadError(
                f"--device {name} requested but MPS is not available; use --device cpu"
            )
        return device
    raise ModelLoadError(f"unsupported device {name!r}; use cpu, cuda, cuda:N or auto")


def resolve_dtype(name: str) -> torch.dtype:
    """``"float32"``, ``"bfloat16"`` or ``"float16"`` → the torch dtype."""
    try:
        return DTYPES[name]
    except KeyError:
        raise ModelLoadError(
            f"unsupported dtype {name!r}; use one of {', '.join(DTYPES)}"
        ) from None
