"""The public entry point: a model spec or local directory → a TransformerLens model + tokenizer.

Every model, tiny or real, is first built as a Hugging Face model and then converted by the same
code (:func:`~activation_store.models.convert.hf_to_hooked`), so tests on the tiny specs exercise
the path that loads Llama-3.1-8B and DeepSeek-R1-Distill-Llama-8B.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from activation_store.core.errors import ModelLoadError
from activation_store.models.config import ModelConfig
from activation_store.models.convert import architecture_of, check_supported, hf_to_hooked
from activation_store.models.device import resolve_device, resolve_dtype
from activation_store.models.fingerprint import weights_fingerprint
from activation_store.models.hf_local import check_local_dir, load_local_hf
from activation_store.models.hooks import HookSpec, parse_hook
from activation_store.models.organism_weights import VERSIONS as ORGANISM_VERSIONS

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

HfLoader = Callable[[ModelConfig], "tuple[PreTrainedModel, PreTrainedTokenizerBase]"]
"""Builds a spec's Hugging Face model (any device, ideally the CPU) and tokenizer."""
BIG_MODEL_PARAMS = 100_000_000
"""Above this size the dropped HF model is garbage-collected at once (costs ~0.2 s)."""


@dataclass(frozen=True)
class LoadedModel:
    """A TransformerLens model ready for caching, with what is needed to describe its activations."""

    model: HookedTransformer
    """Unprocessed (no LayerNorm folding, no centering): hooks equal the HF hidden states."""
    tokenizer: PreTrainedTokenizerBase
    """The checkpoint's own tokenizer (chat template included); also ``model.tokenizer``."""
    model_id: str
    """Spec name (e.g. ``tiny-llama``) or the resolved local directory."""
    architecture: str
    """Hugging Face architecture, e.g. ``LlamaForCausalLM``."""
    fingerprint: str
    """:func:`weights_fingerprint` of ``model``: store it beside activations."""
    config: ModelConfig
    """The request that produced this model."""
    hf_model: PreTrainedModel | None = field(default=None, repr=False)
    """The Hugging Face model on the same device, only if ``load_model(keep_hf_model=True)``."""

    @property
    def n_layers(self) -> int:
        """Number of decoder blocks."""
        return int(self.model.cfg.n_layers)

    @property
    def d_model(self) -> int:
        """Width of the residual stream."""
        return int(self.model.cfg.d_model)

    @property
    def device(self) -> torch.device:
        """Where the model's parameters live."""
        return next(self.model.parameters()).device

    def parse_hook(self, name: str) -> HookSpec:
        """Validate a residual-shaped hook name against this model (see :func:`parse_hook`)."""
        has_pos_embed = self.model.cfg.positional_embedding_type != "rotary"
        return parse_hook(name, self.n_layers, has_pos_embed=has_pos_embed)


def _tiny_llama(config: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from activation_store.models.tiny import tiny_llama_hf, tiny_tokenizer

    return tiny_llama_hf(config.seed), tiny_tokenizer()


def _tiny_gpt(config: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from activation_store.models.tiny import tiny_gpt_hf, tiny_tokenizer

    return tiny_gpt_hf(config.seed), tiny_tokenizer()


def _smollm2(config: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from activation_store.models.smollm2 import load_smollm2_hf

    return load_smollm2_hf(config)


def _smollm2_reasoner(config: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from activation_store.models.smollm2 import load_reasoner_hf

    return load_reasoner_hf(config)


def _smollm2_reasoner_version(version: str) -> HfLoader:
    def load(config: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        from activation_store.models.smollm2 import load_reasoner_hf

        return load_reasoner_hf(config, version)

    return load


def _planted(variant: str) -> HfLoader:
    def load(config: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        from activation_store.models.planted import load_planted_smollm2_hf

        return load_planted_smollm2_hf(config, variant)

    return load


def _planted_tiny(variant: str) -> HfLoader:
    def load(config: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        from activation_store.models.planted_tiny import load_planted_tiny_hf

        return load_planted_tiny_hf(config, variant)

    return load


_SPECS: dict[str, HfLoader] = {
    "tiny-llama": _tiny_llama,
    "tiny-gpt": _tiny_gpt,
    "smollm2-135m": _smollm2,
    "smollm2-135m-reasoner": _smollm2_reasoner,
    # The organism before issue #15 (check lines, a template reflex): results computed on it stay
    # reproducible (activation_store/models/organism_weights/v5/).
    # Earlier and candidate organisms by version (organism_weights.VERSIONS; the candidates of
    # issue #15 fail their acceptance figures, so none is the default).
    **{f"smollm2-135m-reasoner-{v}": _smollm2_reasoner_version(v) for v in ORGANISM_VERSIONS},
    # Planted-mechanism controls (activation_store/models/planted.py): base + known neurons.
    "smollm2-135m-planted-single": _planted("single"),
    "smollm2-135m-planted-joint": _planted("joint"),
    "smollm2-135m-planted-null": _planted("null"),
    "tiny-llama-lines": _planted_tiny("base"),
    "tiny-llama-planted-single": _planted_tiny("single"),
    "tiny-llama-planted-null": _planted_tiny("null"),
}


def register_model_spec(name: str, hf_loader: HfLoader, *, replace: bool = False) -> None:
    """Make ``ModelConfig(model=name)`` load through ``hf_loader`` (e.g. an embedded organism).

    The loader returns a Hugging Face causal LM of a supported architecture and its tokenizer;
    dtype, device, eval mode and the TransformerLens conversion are applied by this module.
    """
    if not name or "/" in name or os.sep in name:
        raise ValueError(f"spec name {name!r} must be non-empty and contain no path separator")
    if name in _SPECS and not replace:
        raise ValueError(f"model spec {name!r} is already registered; pass replace=True")
    _SPECS[name] = hf_loader


def known_specs() -> list[str]:
    """Registered spec names, sorted."""
    return sorted(_SPECS)


def load_hf_model(config: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The plain Hugging Face model (eval mode, ``config.dtype``, on ``config.device``) + tokenizer.

    For generation (e.g. steering runs), where HF's KV cache is much faster than TransformerLens.
    """
    device = resolve_device(config.device)
    hf_model, tokenizer, _, _ = _load_hf(config)
    return _moved(hf_model, device=device), tokenizer


def load_model(config: ModelConfig, *, keep_hf_model: bool = False) -> LoadedModel:
    """Load ``config.model`` as an unprocessed ``HookedTransformer`` with its own tokenizer.

    ``config.model`` is a registered spec name (:func:`known_specs`) or a local Hugging Face
    directory; nothing is downloaded. The HF model is built on the CPU, converted, and then dropped
    (two copies of an 8B model rarely fit) unless ``keep_hf_model``, which moves it to the device
    too. The device is checked first, so ``--device cuda`` without a GPU fails before any loading.
    Raises :class:`ModelLoadError` with a one-line message for bad input.
    """
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype)
    if dtype == torch.float16 and device.type == "cpu":
        logger.warning("float16 on the CPU is slow and may be inaccurate; use bfloat16 or float32")
    hf_model, tokenizer, model_id, architecture = _load_hf(config)
    model = hf_to_hooked(
        hf_model, tokenizer, model_id=model_id, device=device, dtype=dtype, n_ctx=config.n_ctx
    )
    fingerprint = weights_fingerprint(model)
    kept: PreTrainedModel | None = None
    if keep_hf_model:
        kept = _moved(hf_model, device=device)
    else:
        big = sum(p.numel() for p in hf_model.parameters()) > BIG_MODEL_PARAMS
        del hf_model
        if big:  # free the HF copy now, before the caller allocates activations
            gc.collect()
    logger.info(
        "loaded %s (%s, %d layers, d_model %d) on %s in %s; fingerprint %s",
        model_id,
        architecture,
        model.cfg.n_layers,
        model.cfg.d_model,
        device,
        config.dtype,
        fingerprint,
    )
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        model_id=model_id,
        architecture=architecture,
        fingerprint=fingerprint,
        config=config,
        hf_model=kept,
    )


def _load_hf(
    config: ModelConfig,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, str, str]:
    """(HF model in eval mode and ``config.dtype``, tokenizer, model_id, architecture)."""
    if config.device_map is not None:
        raise ModelLoadError(
            f"device_map={config.device_map!r} is used by caching only (backtrack cache); load "
            "the model on one --device here"
        )
    dtype = resolve_dtype(config.dtype)
    name = config.model
    if name in _SPECS:
        hf_model, tokenizer = _SPECS[name](config)
        model_id = name
        architecture = architecture_of(hf_model.config)
        check_supported(architecture, f"spec {name!r}")
        hf_model = _moved(hf_model, dtype=dtype)
    elif _looks_like_path(name):
        checkpoint = check_local_dir(name)
        hf_model, tokenizer = load_local_hf(checkpoint, dtype=dtype)
        model_id, architecture = str(checkpoint.path), checkpoint.architecture
    else:
        raise ModelLoadError(
            f"unknown model {name!r}; known specs: {', '.join(known_specs())}, or pass a local "
            "Hugging Face directory path"
        )
    return hf_model.eval(), tokenizer, model_id, architecture


def _moved(
    model: PreTrainedModel, *, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> PreTrainedModel:
    """``Module.to`` in place (transformers' override of ``to`` confuses type checkers)."""
    module: torch.nn.Module = model
    module.to(device=device, dtype=dtype)
    return model


def _looks_like_path(name: str) -> bool:
    return "/" in name or os.sep in name or name.startswith((".", "~")) or Path(name).exists()
