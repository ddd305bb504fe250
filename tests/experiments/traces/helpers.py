"""Tokenizers for offset tests: the tiny byte-level BPE, and a SentencePiece-style one."""

from __future__ import annotations

import functools

from tokenizers import Tokenizer, decoders, models, normalizers, trainers
from transformers import PreTrainedTokenizerFast

from activation_store.models.tiny import CORPUS


@functools.cache
def _sentencepiece_json() -> str:
    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    special = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=special, show_progress=False)
    tok.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    return tok.to_str()


def sentencepiece_tokenizer() -> PreTrainedTokenizerFast:
    """Like Llama-2/Mistral: "▁" for spaces, byte fallback, a stripped leading space."""
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_sentencepiece_json()),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
