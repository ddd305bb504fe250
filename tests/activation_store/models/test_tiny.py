from __future__ import annotations

import torch

from activation_store.models import tiny
from activation_store.models.tiny import tiny_gpt_hf, tiny_llama_hf, tiny_tokenizer

TEXT = "Wait, 17 × 25 = 425 — café <think>\nHmm</think>"


def test_tokenizer_is_deterministic_and_cheap() -> None:
    first = tiny_tokenizer().get_vocab()
    tiny._tokenizer_json.cache_clear()
    tiny._cached_tokenizer.cache_clear()
    assert tiny_tokenizer().get_vocab() == first
    assert 400 < len(first) <= tiny.VOCAB_SIZE + len(tiny.ADDED_TOKENS)


def test_special_and_added_tokens() -> None:
    tok = tiny_tokenizer()
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == (tiny.BOS, tiny.EOS, tiny.PAD)
    ids = tok(TEXT).input_ids
    assert ids[0] == tok.bos_token_id  # prepended, like Llama 3
    pieces = tok.convert_ids_to_tokens(ids)
    assert "<think>" in pieces and "</think>" in pieces
    assert tok.decode(ids, skip_special_tokens=True) == TEXT
    assert tok.decode(ids) == tiny.BOS + TEXT


def test_offsets_map_back_to_text() -> None:
    enc = tiny_tokenizer()(TEXT, return_offsets_mapping=True)
    assert enc["offset_mapping"][0] == (0, 0)  # BOS
    assert "".join(TEXT[a:b] for a, b in enc["offset_mapping"]) == TEXT


def test_chat_template_r1_style() -> None:
    tok = tiny_tokenizer()
    text = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2+2?"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|begin_of_text|><|User|>What is 2+2?<|Assistant|><think>\n"
    ids = tok(text, add_special_tokens=False).input_ids
    assert tok.convert_ids_to_tokens(ids)[:2] == ["<|begin_of_text|>", "<|User|>"]


def test_copies_are_independent() -> None:
    a = tiny_tokenizer()
    a.padding_side = "left"
    assert tiny_tokenizer().padding_side == "right"


def test_models_are_seeded_without_touching_global_rng() -> None:
    state = torch.random.get_rng_state()
    a, b, c = tiny_llama_hf(0), tiny_llama_hf(0), tiny_llama_hf(3)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)
    config = a.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_key_value_heads) == (64, 4, 2)
    assert config.vocab_size == len(tiny_tokenizer()) and not config.tie_word_embeddings
    assert tiny_gpt_hf(0).config.n_positions == 512
