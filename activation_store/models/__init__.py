"""Model loading: a spec name or local checkpoint → TransformerLens ``HookedTransformer`` + tokenizer.

Every other package gets its model here. Heavy modules (torch, transformers, transformer_lens) load
on first use of a name that needs them, so ``import activation_store.models`` stays fast.

>>> from activation_store.models import ModelConfig, load_model
>>> loaded = load_model(ModelConfig(model="tiny-llama"))  # or model="/models/Llama-3.1-8B"
>>> logits, cache = loaded.model.run_with_cache("Wait, let me check.")
>>> cache["blocks.1.hook_resid_post"].shape  # [batch, pos, d_model]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from activation_store.core.lazy import lazy_exports
from activation_store.models.config import ModelConfig, ModelConfigError
from activation_store.models.hooks import (
    HookSpec,
    hf_module_path,
    hook_meaning,
    hook_name,
    parse_hook,
    stop_layer,
)

if TYPE_CHECKING:
    from activation_store.models.device import resolve_device, resolve_dtype
    from activation_store.models.fingerprint import weights_fingerprint
    from activation_store.models.loader import (
        LoadedModel,
        known_specs,
        load_hf_model,
        load_model,
        register_model_spec,
    )
    from activation_store.models.tiny import (
        save_tiny_llama,
        tiny_gpt_hf,
        tiny_llama_hf,
        tiny_tokenizer,
    )

_LAZY = {
    "resolve_device": ".device",
    "resolve_dtype": ".device",
    "weights_fingerprint": ".fingerprint",
    "LoadedModel": ".loader",
    "known_specs": ".loader",
    "load_hf_model": ".loader",
    "load_model": ".loader",
    "register_model_spec": ".loader",
    "save_tiny_llama": ".tiny",
    "tiny_gpt_hf": ".tiny",
    "tiny_llama_hf": ".tiny",
    "tiny_tokenizer": ".tiny",
}

__all__ = [
    "HookSpec",
    "LoadedModel",
    "ModelConfig",
    "ModelConfigError",
    "hf_module_path",
    "hook_meaning",
    "hook_name",
    "known_specs",
    "load_hf_model",
    "load_model",
    "parse_hook",
    "register_model_spec",
    "resolve_device",
    "resolve_dtype",
    "save_tiny_llama",
    "stop_layer",
    "tiny_gpt_hf",
    "tiny_llama_hf",
    "tiny_tokenizer",
    "weights_fingerprint",
]


__getattr__ = lazy_exports(__name__, _LAZY, globals())
