from __future__ import annotations

import pytest

from activation_store.core.errors import InputError
from activation_store.models.hooks import (
    HookSpec,
    hf_module_path,
    hook_meaning,
    hook_name,
    parse_hook,
    stop_layer,
)


def test_parse_block_and_embed_hooks() -> None:
    assert parse_hook("blocks.3.hook_resid_post", 4) == HookSpec(
        name="blocks.3.hook_resid_post", layer=3, kind="resid_post"
    )
    assert parse_hook("blocks.0.hook_attn_out", 4).kind == "attn_out"
    assert parse_hook("hook_embed", 4) == HookSpec(name="hook_embed", layer=None, kind="embed")
    assert parse_hook("hook_pos_embed", 4, has_pos_embed=True).kind == "pos_embed"
    assert hook_name("mlp_out", 2) == "blocks.2.hook_mlp_out"


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        (
            "blocks.99.hook_resid_post",
            "unknown hook 'blocks.99.hook_resid_post': layer 99 out of range 0..3",
        ),
        ("blocks.1.hook_attn_scores", "no hook_attn_scores in a block"),
        ("blocks.x.hook_resid_post", "layer 'x' is not a number"),
        ("blocks.-1.hook_resid_post", "layer '-1' is not a number"),
        ("resid_post", "unknown hook 'resid_post'"),
        ("hook_pos_embed", "unknown hook 'hook_pos_embed'"),
    ],
)
def test_bad_hooks_list_valid_forms(name: str, phrase: str) -> None:
    with pytest.raises(InputError) as info:
        parse_hook(name, 4)
    message = str(info.value)
    assert phrase in message
    assert "\n" not in message
    assert message.endswith(
        "valid: hook_embed, blocks.{0..3}.hook_resid_pre|resid_mid|resid_post|attn_out|mlp_out"
    )


def test_meanings() -> None:
    assert hook_meaning(parse_hook("blocks.10.hook_resid_post", 32)) == (
        "residual stream after decoder block 10 (output of block 10)"
    )
    assert "before decoder block 0" in hook_meaning(parse_hook("blocks.0.hook_resid_pre", 4))
    assert "token embeddings" in hook_meaning(parse_hook("hook_embed", 4))


def test_hf_module_paths() -> None:
    def path(name: str, arch: str) -> str:
        return hf_module_path(parse_hook(name, 32, has_pos_embed=True), arch)

    llama = "LlamaForCausalLM"
    assert path("blocks.10.hook_resid_post", llama) == "model.layers.10 (output)"
    assert path("blocks.10.hook_resid_pre", llama) == "model.layers.10 (input)"
    assert path("blocks.2.hook_attn_out", llama) == "model.layers.2.self_attn (output[0])"
    assert path("blocks.2.hook_mlp_out", llama) == "model.layers.2.mlp (output)"
    assert path("blocks.2.hook_resid_mid", llama) == (
        "model.layers.2.post_attention_layernorm (input)"
    )
    assert path("hook_embed", llama) == "model.embed_tokens (output)"
    assert path("blocks.1.hook_resid_post", "GPT2LMHeadModel") == "transformer.h.1 (output)"
    assert path("hook_pos_embed", "GPT2LMHeadModel") == "transformer.wpe (output)"
    with pytest.raises(InputError, match="no Hugging Face module map for 'BertModel'"):
        path("hook_embed", "BertModel")


def test_stop_layer() -> None:
    specs = [parse_hook(n, 4) for n in ("blocks.0.hook_resid_post", "blocks.1.hook_mlp_out")]
    assert stop_layer(specs, 4) == 2
    assert stop_layer([parse_hook("hook_embed", 4)], 4) == 0
    assert stop_layer([parse_hook("blocks.3.hook_resid_pre", 4)], 4) is None
    with pytest.raises(InputError, match="no hooks requested"):
        stop_layer([], 4)
