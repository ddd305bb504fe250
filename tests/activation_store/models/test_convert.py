"""The converted TransformerLens model reproduces the Hugging Face model, hook by hook."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

from activation_store.core.errors import ModelLoadError
from activation_store.models import ModelConfig, load_model, parse_hook, stop_layer
from activation_store.models.hooks import BLOCK_KINDS, hook_name
from activation_store.models.loader import _SPECS
from activation_store.models.tiny import tiny_gpt_hf, tiny_llama_hf, tiny_tokenizer
from tests.activation_store.models.helpers import PROMPTS, hf_activations


def _randomized(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random biases and norm gains too, so their conversion is tested (HF inits them to 0/1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen) * 0.1
            param.copy_(1 + noise if "norm" in name or ".ln_" in name else noise)
    return model


def _tiny_qwen_or_mistral(
    cls: type, config_cls: type, arch: str, seed: int, **extra: Any
) -> torch.nn.Module:
    config = config_cls(
        vocab_size=len(tiny_tokenizer()), hidden_size=64, intermediate_size=128,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=512, architectures=[arch], **extra,
    )  # fmt: skip
    return _randomized(cls(config), seed)


BUILDERS = {
    "tiny-llama": None,
    "tiny-gpt": lambda seed: _randomized(tiny_gpt_hf(seed), seed),
    "r-llama": lambda seed: _randomized(tiny_llama_hf(seed), seed),
    "r-mistral": lambda seed: _tiny_qwen_or_mistral(
        MistralForCausalLM, MistralConfig, "MistralForCausalLM", seed, sliding_window=8
    ),
    "r-qwen2": lambda seed: _tiny_qwen_or_mistral(
        Qwen2ForCausalLM, Qwen2Config, "Qwen2ForCausalLM", seed
    ),
}


def _spec(build: Callable[[int], Any], cfg: ModelConfig) -> tuple[Any, Any]:
    return build(cfg.seed), tiny_tokenizer()


@pytest.fixture
def specs(monkeypatch: pytest.MonkeyPatch) -> None:
    table: dict[str, Any] = dict(_SPECS)
    for name, build in BUILDERS.items():
        if build is not None:
            table[name] = partial(_spec, build)
    monkeypatch.setattr("activation_store.models.loader._SPECS", table)


@pytest.mark.parametrize("spec", list(BUILDERS))
def test_every_hook_matches_its_hf_module(spec: str, specs: None, device: str) -> None:
    loaded = load_model(ModelConfig(model=spec, device=device), keep_hf_model=True)
    has_pos = loaded.model.cfg.positional_embedding_type != "rotary"
    names = ["hook_embed"] + (["hook_pos_embed"] if has_pos else [])
    names += [hook_name(kind, layer) for layer in range(loaded.n_layers) for kind in BLOCK_KINDS]
    hook_specs = [loaded.parse_hook(name) for name in names]
    for prompt in PROMPTS:
        ids = loaded.tokenizer(prompt, return_tensors="pt").input_ids.to(device)
        with torch.no_grad():
            logits, cache = loaded.model.run_with_cache(ids)
            hf_logits = loaded.hf_model(ids).logits  # type: ignore[misc]
        torch.testing.assert_close(logits, hf_logits, atol=1e-4, rtol=1e-4)
        expected = hf_activations(loaded.hf_model, hook_specs, loaded.architecture, ids)
        for hook in hook_specs:
            got = cache[hook.name]
            torch.testing.assert_close(
                got, expected[hook.name].expand_as(got), atol=1e-5, rtol=1e-4, msg=hook.name
            )


def test_stop_layer_forward_gives_the_same_residual(device: str) -> None:
    loaded = load_model(ModelConfig(model="tiny-llama", device=device))
    hooks = [parse_hook("blocks.1.hook_resid_post", loaded.n_layers)]
    stop = stop_layer(hooks, loaded.n_layers)
    ids = loaded.model.to_tokens(PROMPTS[0])
    with torch.no_grad():
        _, full = loaded.model.run_with_cache(ids)
        resid = loaded.model(ids, stop_at_layer=stop)
    torch.testing.assert_close(resid, full["blocks.1.hook_resid_post"])


def test_temp_config_dir_is_removed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    load_model(ModelConfig(model="tiny-gpt"))
    assert list(scratch.iterdir()) == []


def test_tmpdir_named_like_a_model_falls_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trap = tmp_path / "llama-scratch"
    trap.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(trap))
    loaded = load_model(ModelConfig(model="tiny-llama"))
    assert loaded.model.cfg.d_model == 64
    assert list(trap.iterdir()) == []


def test_tokenizer_init_kwargs_are_restored() -> None:
    loaded = load_model(ModelConfig(model="tiny-llama"))
    assert "add_bos_token" not in loaded.tokenizer.init_kwargs
    assert loaded.model.cfg.tokenizer_prepends_bos


def test_head_dim_mismatch_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def odd_head_dim(cfg: ModelConfig) -> tuple[torch.nn.Module, object]:
        model = tiny_llama_hf(0)
        model.config.head_dim = 32
        return model, tiny_tokenizer()

    monkeypatch.setitem(_SPECS, "odd", odd_head_dim)
    with pytest.raises(
        ModelLoadError, match="head_dim=32 differs from hidden_size/num_attention_heads=16"
    ):
        load_model(ModelConfig(model="odd"))


def test_rotary_tables_grown_past_the_initial_cache_match_hf(
    monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    """TL builds rotary tables for 2048 positions and grows them; long traces hit that path."""
    from transformer_lens.components.abstract_attention import AbstractAttention

    monkeypatch.setattr(AbstractAttention, "ROTARY_INITIAL_CACHE_SIZE", 4)
    loaded = load_model(ModelConfig(model="tiny-llama", device=device), keep_hf_model=True)
    assert loaded.model.blocks[0].attn.rotary_cos.shape[0] == 4
    ids = loaded.tokenizer(" ".join(PROMPTS), return_tensors="pt").input_ids.to(device)
    with torch.no_grad():
        logits = loaded.model(ids)
        hf_logits = loaded.hf_model(ids).logits  # type: ignore[misc]
    assert loaded.model.blocks[0].attn.rotary_cos.shape[0] >= ids.shape[1]
    torch.testing.assert_close(logits, hf_logits, atol=1e-4, rtol=1e-4)
