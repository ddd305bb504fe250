"""Tiny random, seeded models for tests, built as real Hugging Face models.

The tiny specs go through exactly the same Hugging Face → TransformerLens conversion as real
checkpoints, so a test on ``tiny-llama`` exercises the code path that loads Llama-3.1-8B. Their
weights are random: activations have the right shapes and hook names, but no meaning.
"""

from __future__ import annotations

import copy
import functools
import logging
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

logger = logging.getLogger(__name__)

BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
PAD = "<|pad|>"
USER = "<|User|>"
ASSISTANT = "<|Assistant|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SPECIAL_TOKENS = (BOS, EOS, PAD, USER, ASSISTANT)
"""Special tokens, in id order from 0 (skipped by ``decode(..., skip_special_tokens=True)``)."""
ADDED_TOKENS = (THINK_OPEN, THINK_CLOSE)
"""Ordinary added tokens: never split, but kept when decoding (as in DeepSeek-R1-Distill)."""
VOCAB_SIZE = 512
"""Target BPE vocabulary size (bytes + merges + special tokens); the corpus may yield fewer."""

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}{{ '<|User|>' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}"
    "{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{ '<|Assistant|>' + content + eos_token }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|Assistant|><think>\\n' }}{% endif %}"
)
"""R1-distill style template: BOS, ``<|User|>…``, and ``<|Assistant|><think>\\n`` as the prompt."""

CORPUS = """\
Let me work through this step by step. We need the sum of 17 and 25, which is 42.
Wait, the question asks for the product, not the sum. So 17 × 25 = 425. Let me check:
17 × 20 = 340 and 17 × 5 = 85, and 340 + 85 = 425. Yes, that is right.

Hmm, the train leaves at 3:15 and arrives at 5:40, so the trip takes 2 hours and 25 minutes.
But wait, the clocks are in different time zones — the arrival time is local. If the second
city is one hour behind, the real duration is 3 hours and 25 minutes. Let me double-check that.

Okay, so the café sells 12 croissants per tray and bakes 7 trays. That is 12 × 7 = 84 pastries.
Wait, the recipe says each tray loses 2 to breakage, so the count is 84 − 14 = 70. Hmm, is that
right? Each of the 7 trays loses 2, so 7 × 2 = 14. Yes: 70 croissants for the café.

Let me think about the geometry. The triangle has sides 3, 4 and 5, so it is a right triangle
and the area is 3 × 4 / 2 = 6. But wait, the problem says the sides are 5, 12 and 13. Then
the area is 5 × 12 / 2 = 30. Actually, let me re-read the question to be sure.

Alternatively, we could count the cases directly. There are 6 faces on each die, so 36 outcomes.
The sum is 7 in 6 of them: (1, 6), (2, 5), (3, 4), (4, 3), (5, 2), (6, 1). So the probability
is 6 / 36 = 1 / 6. Hmm, wait. The question asks for a sum of 8, which happens in 5 ways.
So the answer is 5 / 36. I think that is correct, but let me verify once more.

Therefore the final answer is 5 / 36. Wait, no — I should check whether the dice are fair.
The problem says they are fair, so the answer stands. The résumé of the solution: count the
outcomes, count the favourable ones, divide. Hmm, that matches what I found before.
"""
"""Reasoning-style text the tiny BPE is trained on (digits, backtracking words, é × —)."""


@functools.cache
def _tokenizer_json() -> str:
    """Train the byte-level BPE once per process; its JSON is the cache (deterministic)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS.splitlines(keepends=True), trainer=trainer)
    # Like Llama 3: prepend BOS; keep byte-level offsets untrimmed so offsets map to the text.
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
            ),
        ]
    )
    return tok.to_str()


@functools.cache
def _cached_tokenizer() -> PreTrainedTokenizerFast:
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json()),
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[USER, ASSISTANT],
        chat_template=CHAT_TEMPLATE,
        model_max_length=512,
        padding_side="right",
    )
    tokenizer.add_tokens(list(ADDED_TOKENS), special_tokens=False)
    return tokenizer


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A deterministic byte-level BPE (≈512 tokens) with a DeepSeek-R1-Distill style chat template.

    BOS ``<|begin_of_text|>`` is prepended by the tokenizer (like Llama 3), EOS is
    ``<|end_of_text|>``, PAD is ``<|pad|>``; ``<think>``/``</think>`` are single tokens. Each call
    returns a fresh copy, so callers may change it (e.g. ``padding_side``) freely.
    """
    return copy.deepcopy(_cached_tokenizer())


def _seeded(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


LLAMA3_ROPE = {
    "rope_type": "llama3",
    "rope_theta": 500000.0,
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64,
}
"""Llama-3.1's rotary scaling, with the original context shrunk to fit 512 positions."""


def tiny_llama_hf(
    seed: int = 0,
    *,
    d_model: int = 64,
    d_mlp: int = 128,
    n_layers: int = 4,
    n_heads: int = 4,
    n_kv_heads: int = 2,
) -> LlamaForCausalLM:
    """A random 4-layer Llama (d_model 64, 4 heads, 2 KV heads, gated MLP 128, RMSNorm, rotary);
    the keywords change its shape (e.g. a head size of 64, which vLLM's CPU attention needs).

    Rotary uses Llama-3.1's "llama3" frequency scaling, so the conversion of that is tested too.

    The seed fixes every weight; the global torch RNG is left as it was.
    """
    tokenizer = _cached_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=d_model,
        intermediate_size=d_mlp,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv_heads,
        max_position_embeddings=512,
        rope_parameters=dict(LLAMA3_ROPE),
        rms_norm_eps=1e-5,
        initializer_range=0.1,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config.architectures = ["LlamaForCausalLM"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval()


def tiny_gpt_hf(seed: int = 0) -> GPT2LMHeadModel:
    """A random 4-layer GPT-2 (d_model 64, 4 heads, learned positions, LayerNorm, n_positions 512)."""
    tokenizer = _cached_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=64,
        n_layer=4,
        n_head=4,
        n_positions=512,
        initializer_range=0.1,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config.architectures = ["GPT2LMHeadModel"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    return model.eval()


def save_tiny_llama(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny Llama checkpoint (config.json, model.safetensors, tokenizer files) to ``directory``.

    Tests use it to exercise the local-directory path exactly as a downloaded checkpoint would.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    tiny_llama_hf(seed).save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    logger.info("saved tiny-llama (seed %d) to %s", seed, path)
    return path
