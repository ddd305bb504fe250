from __future__ import annotations

import pytest
import torch

from activation_store.core.errors import ModelLoadError
from activation_store.models import (
    ModelConfig,
    known_specs,
    load_hf_model,
    load_model,
    register_model_spec,
)
from activation_store.models.loader import _SPECS
from activation_store.models.tiny import tiny_llama_hf, tiny_tokenizer


@pytest.mark.parametrize(
    ("spec", "arch"), [("tiny-llama", "LlamaForCausalLM"), ("tiny-gpt", "GPT2LMHeadModel")]
)
def test_tiny_specs_load(
    spec: str, arch: str, device: str, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = load_model(ModelConfig(model=spec, device=device))
    assert capsys.readouterr().out == ""  # library code does not print
    assert (loaded.model_id, loaded.architecture) == (spec, arch)
    assert (loaded.n_layers, loaded.d_model) == (4, 64)
    assert "blocks.1.hook_resid_post" in loaded.model.hook_dict
    assert loaded.model.tokenizer is loaded.tokenizer
    assert loaded.model.cfg.model_name == spec
    assert loaded.device.type == torch.device(device).type
    assert loaded.hf_model is None
    assert not loaded.model.training
    logits = loaded.model("Wait, let me check.")
    assert logits.shape[-1] == len(loaded.tokenizer)


def test_same_seed_same_weights_other_seed_differs(device: str) -> None:
    a = load_model(ModelConfig(model="tiny-llama", device=device, seed=0))
    b = load_model(ModelConfig(model="tiny-llama", device=device, seed=0))
    c = load_model(ModelConfig(model="tiny-llama", device=device, seed=1))
    assert a.fingerprint == b.fingerprint != c.fingerprint
    for (name, pa), pb in zip(a.model.named_parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.model.W_E, c.model.W_E)


def test_bfloat16(device: str) -> None:
    loaded = load_model(ModelConfig(model="tiny-llama", device=device, dtype="bfloat16"))
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    _, cache = loaded.model.run_with_cache("Hmm, wait.")
    assert cache["blocks.3.hook_resid_post"].dtype == torch.bfloat16
    f32 = load_model(ModelConfig(model="tiny-llama", device=device))
    assert loaded.fingerprint != f32.fingerprint


def test_keep_hf_model_and_load_hf_model(device: str) -> None:
    loaded = load_model(ModelConfig(model="tiny-gpt", device=device), keep_hf_model=True)
    assert loaded.hf_model is not None
    hf, tok = load_hf_model(ModelConfig(model="tiny-gpt", device=device))
    assert not hf.training and len(tok) == hf.config.vocab_size
    ids = tok("Wait, 2 + 2 = 4.", return_tensors="pt").input_ids.to(device)
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, loaded.hf_model(ids).logits)
        torch.testing.assert_close(loaded.model(ids), hf(ids).logits, atol=1e-4, rtol=1e-4)


def test_n_ctx_cap() -> None:
    loaded = load_model(ModelConfig(model="tiny-llama", n_ctx=64))
    assert loaded.model.cfg.n_ctx == 64


def test_unknown_spec_lists_known_ones() -> None:
    with pytest.raises(ModelLoadError) as info:
        load_model(ModelConfig(model="llama-9000"))
    message = str(info.value)
    assert "\n" not in message
    assert "unknown model 'llama-9000'; known specs: " in message
    assert "tiny-gpt, tiny-llama" in message
    assert "local Hugging Face directory" in message


def test_cuda_without_gpu_fails_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelLoadError, match="--device cuda requested but no CUDA GPU is visible"):
        load_model(ModelConfig(model="tiny-llama", device="cuda"))


def test_register_model_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("activation_store.models.loader._SPECS", dict(_SPECS))
    register_model_spec("organism", lambda cfg: (tiny_llama_hf(cfg.seed + 7), tiny_tokenizer()))
    assert "organism" in known_specs()
    loaded = load_model(ModelConfig(model="organism"))
    assert loaded.model_id == "organism" and loaded.architecture == "LlamaForCausalLM"
    with pytest.raises(ValueError, match="already registered"):
        register_model_spec("organism", lambda cfg: (tiny_llama_hf(0), tiny_tokenizer()))
    with pytest.raises(ValueError, match="no path separator"):
        register_model_spec("a/b", lambda cfg: (tiny_llama_hf(0), tiny_tokenizer()))
