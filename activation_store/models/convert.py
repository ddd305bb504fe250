"""Hugging Face causal LM → TransformerLens ``HookedTransformer``, unprocessed and offline.

TransformerLens 3.9's own ``from_pretrained`` cannot be used for our checkpoints:

* it only accepts names from its official list (a local directory fails in
  ``get_official_model_name``), and DeepSeek-R1-Distill-Llama-8B is not on that list;
* ``convert_hf_model_config`` decides the architecture from the *name*: a path containing "llama"
  or "gemma" skips reading config.json (and a path containing e.g. "Llama-3.1-8B" gets hard-coded
  sizes), so a fine-tune in ``…/DeepSeek-R1-Distill-Llama-8B`` would be built wrong;
* ``set_tokenizer`` re-downloads the tokenizer by ``name_or_path`` unless ``add_bos_token`` is set.

So we call its building blocks directly: copy config.json into a neutral temporary directory (its
path contains neither word), build the config and the converted state dict from the in-memory HF
model, and load it with no folding, no centering and no value-bias folding, so every
``blocks.L.hook_resid_post`` equals the HF decoder layer L output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from activation_store.core.errors import ModelLoadError
from activation_store.models.hooks import GPT2_LIKE, LLAMA_LIKE
from activation_store.models.offline import offline_hub

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

SUPPORTED_ARCHITECTURES: tuple[str, ...] = LLAMA_LIKE + GPT2_LIKE
"""Architectures whose conversion is checked against the HF forward pass in our tests."""
NAME_TRAPS = ("llama", "gemma")
"""Substrings that make TransformerLens ignore config.json and guess from the path."""


def architecture_of(config: Any) -> str:
    """The ``architectures[0]`` of a Hugging Face config (or config.json dict)."""
    get = config.get if isinstance(config, dict) else lambda key: getattr(config, key, None)
    archs = get("architectures") or []
    if not archs:
        raise ModelLoadError(
            "config.json has no 'architectures' entry; add e.g. "
            '"architectures": ["LlamaForCausalLM"] to it'
        )
    return str(archs[0])


def check_supported(architecture: str, where: str) -> None:
    """Raise a one-line :class:`ModelLoadError` unless ``architecture`` converts to TL."""
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise ModelLoadError(
            f"architecture {architecture!r} of {where} is not supported; supported: "
            f"{', '.join(SUPPORTED_ARCHITECTURES)}"
        )


def hf_to_hooked(
    hf_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    model_id: str,
    device: torch.device,
    dtype: torch.dtype,
    n_ctx: int | None = None,
) -> HookedTransformer:
    """Convert ``hf_model`` to an unprocessed ``HookedTransformer`` on ``device`` in ``dtype``.

    The tokenizer becomes the model's tokenizer and is changed in place the way TransformerLens
    always does: right padding, and pad/bos set to eos where missing. ``model_id`` becomes
    ``model.cfg.model_name``.
    """
    from transformer_lens import HookedTransformer
    from transformer_lens import loading_from_pretrained as loading

    config = hf_model.config
    architecture = architecture_of(config)
    check_supported(architecture, model_id)
    _check_head_dim(config, architecture, model_id)
    with _neutral_config_dir(config) as neutral, offline_hub(), _tl_quiet(), _bos_marked(tokenizer):
        try:
            cfg = loading.get_pretrained_model_config(
                neutral, hf_cfg=config.to_dict(), fold_ln=False, device=str(device), dtype=dtype,
                n_ctx=n_ctx,
            )  # fmt: skip
            state_dict = loading.get_pretrained_state_dict(neutral, cfg, hf_model, dtype=dtype)
            model = HookedTransformer(
                cfg, tokenizer, move_to_device=False, default_padding_side="right"
            )
            model.load_and_process_state_dict(
                state_dict,
                fold_ln=False,
                center_writing_weights=False,
                center_unembed=False,
                fold_value_biases=False,
                refactor_factored_attn_matrices=False,
            )
        except (ValueError, KeyError, AttributeError, RuntimeError, NotImplementedError) as err:
            raise ModelLoadError(
                f"TransformerLens could not convert {model_id} ({architecture}): "
                f"{type(err).__name__}: {_first_line(err)}"
            ) from err
    model.cfg.model_name = model_id
    logger.debug(
        "converted %s (%s) to TransformerLens, n_ctx %d", model_id, architecture, cfg.n_ctx
    )
    model.move_model_modules_to_device()
    return model.eval()


def _check_head_dim(config: Any, architecture: str, model_id: str) -> None:
    """TL derives d_head = hidden/heads for Llama/Qwen2; refuse configs where that is wrong."""
    if architecture not in LLAMA_LIKE or architecture == "MistralForCausalLM":
        return
    head_dim = getattr(config, "head_dim", None)
    derived = config.hidden_size // config.num_attention_heads
    if head_dim not in (None, derived):
        raise ModelLoadError(
            f"{model_id}: head_dim={head_dim} differs from hidden_size/num_attention_heads="
            f"{derived}, which TransformerLens assumes for {architecture}; this checkpoint "
            "cannot be converted"
        )


@contextlib.contextmanager
def _neutral_config_dir(config: Any) -> Iterator[str]:
    """A temporary directory holding only config.json, whose path TL will not misread."""
    config_dict = config.to_dict()
    if architecture_of(config_dict) in GPT2_LIKE:
        # transformers 5 dropped GPT2Config.n_ctx; TL's GPT-2 branch still reads it.
        config_dict.setdefault("n_ctx", config_dict.get("n_positions"))
    for parent in (None, "/tmp", "/dev/shm"):
        if parent is not None and not Path(parent).is_dir():
            continue
        directory = tempfile.mkdtemp(prefix="bt-hfcfg-", dir=parent)
        if not any(trap in directory.lower() for trap in NAME_TRAPS):
            break
        shutil.rmtree(directory, ignore_errors=True)
    else:
        raise ModelLoadError(
            f"temporary directory {tempfile.gettempdir()!r} contains 'llama' or 'gemma', which "
            "TransformerLens misreads; set TMPDIR to another directory"
        )
    try:
        (Path(directory) / "config.json").write_text(json.dumps(config_dict, default=str))
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _tl_quiet() -> Iterator[None]:
    """Silence TransformerLens's deprecation warnings for HookedTransformer (we pin TL < 4)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="transformer_lens")
        warnings.filterwarnings("ignore", message=".*HookedTransformer.*deprecated")
        yield


@contextlib.contextmanager
def _bos_marked(tokenizer: PreTrainedTokenizerBase) -> Iterator[None]:
    """Stop TL's ``get_tokenizer_with_bos`` from reloading the tokenizer by name.

    TL reloads it with ``add_bos_token=True`` unless ``init_kwargs`` says so already; for an
    in-memory tokenizer that crashes, for a hub name it would go online. TL then measures whether
    the tokenizer really prepends BOS (``encode("")``) and adds BOS itself when it does not, so
    the mark changes nothing else. ``init_kwargs`` is restored afterwards.
    """
    saved = dict(tokenizer.init_kwargs)
    tokenizer.init_kwargs["add_bos_token"] = True
    tokenizer.init_kwargs.setdefault("name_or_path", tokenizer.name_or_path)
    try:
        yield
    finally:
        tokenizer.init_kwargs.clear()
        tokenizer.init_kwargs.update(saved)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else "(no message)"
