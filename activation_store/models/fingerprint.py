"""A cheap identity for a model's weights, stored beside every activation it produced."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import torch

SAMPLE_SIZE = 4096
"""Elements sampled (evenly strided) from each parameter."""
VOLATILE_CONFIG_KEYS = frozenset(
    {
        "device",
        "n_devices",
        "n_ctx",
        "model_name",
        "tokenizer_name",
        "name_or_path",
        "transformers_version",
        "tokenizer_prepends_bos",
    }
)
"""Config entries that vary between loads of the same weights and are left out of the hash."""


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A 16-hex-digit hash of a model's parameters and config, cheap enough for an 8B model.

    Hashes each parameter's name, shape and dtype plus an evenly strided sample of at most
    :data:`SAMPLE_SIZE` of its values (as float32), and the model's config (``model.cfg`` for
    TransformerLens, ``model.config`` for Hugging Face) without device, context cap or names.

    Caveats: it is a sample, so two models that differ only in unsampled elements (e.g. a single
    fine-tuned row) can collide; it is not a content hash for security. It depends on dtype and on
    parameter naming, so a Hugging Face model and its TransformerLens conversion differ, as do the
    float32 and bfloat16 loads of one checkpoint (their activations differ too).
    """
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, param in model.named_parameters():
            digest.update(f"{name}|{tuple(param.shape)}|{param.dtype}|".encode())
            digest.update(_sample(param).numpy().tobytes())
    digest.update(_config_text(model).encode())
    return digest.hexdigest()[:16]


def _sample(tensor: torch.Tensor) -> torch.Tensor:
    """At most SAMPLE_SIZE evenly strided elements as float32 on the CPU, without a full copy."""
    numel = tensor.numel()
    if numel == 0 or tensor.device.type == "meta":
        return torch.empty(0, dtype=torch.float32)
    step = max(1, numel // SAMPLE_SIZE)
    flat_idx = torch.arange(0, numel, step, device=tensor.device)[:SAMPLE_SIZE]
    values = tensor.detach()
    if values.is_contiguous():
        sample = values.view(-1)[flat_idx]
    else:  # index in place rather than copy a (possibly multi-GB) tensor
        sample = values[torch.unravel_index(flat_idx, values.shape)]
    return sample.to(torch.float32).cpu().contiguous()


def _config_text(model: torch.nn.Module) -> str:
    config: Any = getattr(model, "cfg", None) or getattr(model, "config", None)
    if config is None:
        return ""
    values = config.to_dict() if hasattr(config, "to_dict") else vars(config)
    return json.dumps(_stable(values), sort_keys=True, default=str)


def _stable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in values.items()
        if not key.startswith("_") and key not in VOLATILE_CONFIG_KEYS
    }
