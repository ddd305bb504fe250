from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from activation_store.core.errors import ModelLoadError
from activation_store.models import ModelConfig, load_hf_model, load_model
from tests.activation_store.models.helpers import PROMPTS, hf_activations

R1_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '<|User|>' + m['content'] }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|Assistant|><think>\\n' }}{% endif %}"
    "{# distill #}"
)


def test_local_dir_matches_hf(tiny_llama_dir: Path, device: str, no_network: None) -> None:
    config = ModelConfig(model=str(tiny_llama_dir), device=device)
    start = time.perf_counter()
    loaded = load_model(config)
    hf, tok = load_hf_model(config)
    assert time.perf_counter() - start < 10  # a hub retry would take ~25 s
    assert loaded.model_id == str(tiny_llama_dir.resolve())
    assert loaded.architecture == "LlamaForCausalLM"
    n = loaded.n_layers
    last = loaded.parse_hook(f"blocks.{n - 1}.hook_resid_post")
    for prompt in PROMPTS:
        ids = tok(prompt, return_tensors="pt").input_ids.to(device)
        assert torch.equal(ids, loaded.model.to_tokens(prompt))
        with torch.no_grad():
            out = hf(ids, output_hidden_states=True)
            logits, cache = loaded.model.run_with_cache(ids)
        torch.testing.assert_close(logits, out.logits, atol=1e-4, rtol=1e-4)
        for layer in range(n - 1):  # HF applies the final norm to its last hidden state
            torch.testing.assert_close(
                cache[f"blocks.{layer}.hook_resid_post"], out.hidden_states[layer + 1]
            )
        hf_last = hf_activations(hf, [last], loaded.architecture, ids)[last.name]
        torch.testing.assert_close(cache[last.name], hf_last)


def test_local_dir_has_same_fingerprint_as_the_spec(tiny_llama_dir: Path) -> None:
    local = load_model(ModelConfig(model=str(tiny_llama_dir)))
    spec = load_model(ModelConfig(model="tiny-llama", seed=0))
    assert local.fingerprint == spec.fingerprint


@pytest.mark.parametrize("name", ["DeepSeek-R1-Distill-Llama-8B", "Llama-3.1-8B", "gemma-2b"])
def test_name_does_not_decide_the_architecture(ckpt_copy: Path, name: str) -> None:
    target = ckpt_copy.rename(ckpt_copy.parent / name)
    tok_config_path = target / "tokenizer_config.json"
    tok_config = json.loads(tok_config_path.read_text())
    tok_config.update(tokenizer_class="LlamaTokenizerFast", add_bos_token=True, legacy=True)
    tok_config_path.write_text(json.dumps(tok_config))
    (target / "chat_template.jinja").write_text(R1_TEMPLATE)

    loaded = load_model(ModelConfig(model=str(target)))
    cfg = loaded.model.cfg
    assert (cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.n_key_value_heads) == (64, 4, 4, 2)
    assert cfg.n_ctx == 512 and cfg.use_NTK_by_parts_rope
    assert loaded.tokenizer.chat_template == R1_TEMPLATE
    prompt = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": "2+2?"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|begin_of_text|><|User|>2+2?<|Assistant|><think>\n"
    hf, tok = load_hf_model(ModelConfig(model=str(target)))
    ids = tok(PROMPTS[0], return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(ids), hf(ids).logits, atol=1e-4, rtol=1e-4)


def test_bfloat16_local(tiny_llama_dir: Path) -> None:
    loaded = load_model(ModelConfig(model=str(tiny_llama_dir), dtype="bfloat16"))
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}


def _expect(path: Path | str, phrase: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        load_model(ModelConfig(model=str(path)))
    message = str(info.value)
    assert "\n" not in message
    assert phrase in message, message


def test_missing_path(tmp_path: Path) -> None:
    _expect(tmp_path / "nope", "does not exist")


def test_file_not_directory(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_text("x")
    _expect(tmp_path / "model.bin", "is not a directory")


def test_no_config_json(tmp_path: Path) -> None:
    _expect(tmp_path, "no config.json in")


def test_unreadable_config(ckpt_copy: Path) -> None:
    (ckpt_copy / "config.json").write_text("{not json")
    _expect(ckpt_copy, "cannot read")


@pytest.mark.parametrize(
    ("architectures", "phrase"),
    [
        (["BertForMaskedLM"], "architecture 'BertForMaskedLM' of"),
        ([], "config.json has no 'architectures' entry"),
    ],
)
def test_unsupported_architecture(ckpt_copy: Path, architectures: list[str], phrase: str) -> None:
    config = json.loads((ckpt_copy / "config.json").read_text())
    config["architectures"] = architectures
    (ckpt_copy / "config.json").write_text(json.dumps(config))
    _expect(ckpt_copy, phrase)
    if architectures:
        _expect(ckpt_copy, "supported: LlamaForCausalLM, MistralForCausalLM")


def test_tokenizer_files_missing(ckpt_copy: Path) -> None:
    (ckpt_copy / "tokenizer.json").unlink()
    _expect(ckpt_copy, "no tokenizer files in")


def test_weights_missing(ckpt_copy: Path) -> None:
    (ckpt_copy / "model.safetensors").unlink()
    _expect(ckpt_copy, "no weights in")


def test_shard_missing(ckpt_copy: Path) -> None:
    weights = load_file(ckpt_copy / "model.safetensors")
    (ckpt_copy / "model.safetensors").rename(ckpt_copy / "model-00001-of-00002.safetensors")
    weight_map = {name: "model-00001-of-00002.safetensors" for name in weights}
    weight_map["lm_head.weight"] = "model-00002-of-00002.safetensors"
    index = {"metadata": {}, "weight_map": weight_map}
    (ckpt_copy / "model.safetensors.index.json").write_text(json.dumps(index))
    _expect(ckpt_copy, "1 weight shard(s) missing")


def test_tensor_missing_from_weights(ckpt_copy: Path) -> None:
    weights = load_file(ckpt_copy / "model.safetensors")
    del weights["model.layers.2.mlp.up_proj.weight"]
    save_file(weights, ckpt_copy / "model.safetensors", metadata={"format": "pt"})
    _expect(ckpt_copy, "1 missing and 0 mis-shaped weights")
