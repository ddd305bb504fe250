"""Names, meanings and Hugging Face equivalents of the residual-shaped TransformerLens hooks.

The one parser (:func:`parse_hook`) and formatter (:func:`hook_name`) of hook names: every other
module passes names through these (or the :class:`HookSpec` they return) and never splits a hook
string itself.

Every hook here has shape ``[batch, pos, d_model]`` and is something the activation store may
cache. Block-level hooks are ``blocks.{L}.hook_{kind}``; the embedding hooks have no layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

from activation_store.core.errors import InputError

HookKind = Literal[
    "embed", "pos_embed", "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"
]
BLOCK_KINDS: tuple[HookKind, ...] = ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out")
"""Kinds that exist once per block, named ``blocks.{L}.hook_{kind}``."""

LLAMA_LIKE = ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM")
"""Architectures laid out as ``model.embed_tokens`` + ``model.layers.{L}.{self_attn,mlp}``."""
GPT2_LIKE = ("GPT2LMHeadModel",)
"""Architectures laid out as ``transformer.{wte,wpe}`` + ``transformer.h.{L}.{attn,mlp}``."""


@dataclass(frozen=True)
class HookSpec:
    """One parsed hook name."""

    name: str
    """The TransformerLens hook name, e.g. ``blocks.10.hook_resid_post``."""
    layer: int | None
    """Block index, or None for the embedding hooks."""
    kind: HookKind
    """What the hook reads (see :func:`hook_meaning`)."""


def hook_name(kind: HookKind, layer: int | None = None) -> str:
    """``("resid_post", 3)`` → ``"blocks.3.hook_resid_post"``; ``("embed",)`` → ``"hook_embed"``."""
    if kind in BLOCK_KINDS:
        if layer is None:
            raise InputError(f"hook kind {kind!r} needs a layer; pass layer=L")
        return f"blocks.{layer}.hook_{kind}"
    return f"hook_{kind}"


def valid_hooks_text(n_layers: int | None, *, has_pos_embed: bool = False) -> str:
    """The valid hook forms as one line, for error messages and ``--help``."""
    embeds = "hook_embed, hook_pos_embed" if has_pos_embed else "hook_embed"
    kinds = "|".join(BLOCK_KINDS)
    layers = "L" if n_layers is None else f"{{0..{n_layers - 1}}}"
    return f"{embeds}, blocks.{layers}.hook_{kinds}"


def parse_hook(name: str, n_layers: int | None = None, *, has_pos_embed: bool = False) -> HookSpec:
    """Parse and validate a residual-shaped hook name, the one place hook strings are split.

    With ``n_layers`` (a model with that many blocks) the layer must exist and ``hook_pos_embed``
    needs ``has_pos_embed`` (models with learned positions, e.g. GPT-2); without it only the form
    is checked, and :func:`check_hook` checks the rest once the model is known. Raises
    :class:`InputError` naming the bad hook and listing the valid forms.
    """
    valid = valid_hooks_text(n_layers, has_pos_embed=has_pos_embed or n_layers is None)
    if name == "hook_embed" or (name == "hook_pos_embed" and (has_pos_embed or n_layers is None)):
        kind: HookKind = "embed" if name == "hook_embed" else "pos_embed"
        return HookSpec(name=name, layer=None, kind=kind)
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != "blocks" or not parts[2].startswith("hook_"):
        raise InputError(f"unknown hook {name!r}; valid: {valid}")
    layer_text, block_kind = parts[1], parts[2].removeprefix("hook_")
    if block_kind not in BLOCK_KINDS:
        raise InputError(f"unknown hook {name!r}: no hook_{block_kind} in a block; valid: {valid}")
    if not layer_text.isdigit():
        raise InputError(
            f"unknown hook {name!r}: layer {layer_text!r} is not a number; valid: {valid}"
        )
    spec = HookSpec(
        name=hook_name(cast(HookKind, block_kind), int(layer_text)),
        layer=int(layer_text),
        kind=cast(HookKind, block_kind),
    )
    return spec if n_layers is None else check_hook(spec, n_layers, has_pos_embed=has_pos_embed)


def check_hook(spec: HookSpec, n_layers: int, *, has_pos_embed: bool = False) -> HookSpec:
    """``spec`` if it exists in a model with ``n_layers`` blocks (and learned positions, for
    ``hook_pos_embed``); else :class:`InputError` naming the hook and the valid forms."""
    valid = valid_hooks_text(n_layers, has_pos_embed=has_pos_embed)
    if spec.kind == "pos_embed" and not has_pos_embed:
        raise InputError(
            f"unknown hook {spec.name!r}: this model has no learned positions; valid: {valid}"
        )
    if spec.layer is not None and spec.layer >= n_layers:
        raise InputError(
            f"unknown hook {spec.name!r}: layer {spec.layer} out of range 0..{n_layers - 1}; "
            f"valid: {valid}"
        )
    return spec


def expand_hooks(hooks: Iterable[str], n_layers: int) -> list[str]:
    """Expand ``blocks.*.hook_X`` to every layer; other names pass through (in order, deduplicated)."""
    out: list[str] = []
    for hook in hooks:
        head, star, tail = hook.partition(".*.")
        names = (
            [f"{head}.{layer}.{tail}" for layer in range(n_layers)]
            if star and head == "blocks" and tail.startswith("hook_")
            else [hook]
        )
        out.extend(n for n in names if n not in out)
    return out


def hook_order(name: str) -> tuple[int, str]:
    """Sort key: embedding hooks first, then by layer, then by name."""
    try:
        layer = parse_hook(name).layer
    except InputError:
        return (-2, name)
    return (-1 if layer is None else layer, name)


def hook_meaning(spec: HookSpec) -> str:
    """What a hook reads, in words (for store metadata and reports)."""
    layer = spec.layer
    meanings: dict[str, str] = {
        "embed": "token embeddings (the residual stream before block 0, before any positional "
        "embedding is added)",
        "pos_embed": "learned positional embeddings (added to the token embeddings before block 0)",
        "resid_pre": f"residual stream before decoder block {layer} (input of block {layer})",
        "resid_mid": f"residual stream inside block {layer}, after attention and before the MLP",
        "resid_post": f"residual stream after decoder block {layer} (output of block {layer})",
        "attn_out": f"attention output of block {layer} (what attention adds to the residual "
        "stream)",
        "mlp_out": f"MLP output of block {layer} (what the MLP adds to the residual stream)",
    }
    return meanings[spec.kind]


def hf_module_path(spec: HookSpec, architecture: str) -> str:
    """The Hugging Face module (and input or output) that holds the same tensor as ``spec``.

    E.g. ``blocks.10.hook_resid_post`` on ``LlamaForCausalLM`` → ``"model.layers.10 (output)"``.
    The TransformerLens model is converted without folding or centering, so these match exactly
    (up to float error); the string is for humans and store metadata.
    """
    if architecture in LLAMA_LIKE:
        layers, attn, mlp = "model.layers", "self_attn", "mlp"
        embed, pos_embed, ln2 = "model.embed_tokens", None, "post_attention_layernorm"
    elif architecture in GPT2_LIKE:
        layers, attn, mlp = "transformer.h", "attn", "mlp"
        embed, pos_embed, ln2 = "transformer.wte", "transformer.wpe", "ln_2"
    else:
        supported = ", ".join(LLAMA_LIKE + GPT2_LIKE)
        raise InputError(f"no Hugging Face module map for {architecture!r}; known: {supported}")
    block = f"{layers}.{spec.layer}"
    if spec.kind == "embed":
        return f"{embed} (output)"
    if spec.kind == "pos_embed":
        if pos_embed is None:
            raise InputError(f"{architecture} has rotary positions, so no hook_pos_embed")
        return f"{pos_embed} (output)"
    paths = {
        "resid_pre": f"{block} (input)",
        "resid_mid": f"{block}.{ln2} (input)",
        "resid_post": f"{block} (output)",
        "attn_out": f"{block}.{attn} (output[0])",
        "mlp_out": f"{block}.{mlp} (output)",
    }
    return paths[spec.kind]


def stop_layer(specs: Iterable[HookSpec], n_layers: int) -> int | None:
    """The ``stop_at_layer`` for TransformerLens's forward that still runs every requested hook.

    That is the last requested block + 1 (0 if only embedding hooks are asked for), or None when
    every block is needed anyway. The forward then returns the residual stream, not logits.
    """
    specs = list(specs)
    if not specs:
        raise InputError("no hooks requested; pass at least one, e.g. blocks.0.hook_resid_post")
    needed = max(0 if spec.layer is None else spec.layer + 1 for spec in specs)
    return None if needed >= n_layers else needed
