"""Token char spans: linear incremental decoding against exact prefix decoding, and properties."""

from __future__ import annotations

import pytest

from activation_store.models.tiny import CORPUS, tiny_tokenizer
from experiments.traces.offsets import _exact, decoder, token_char_spans
from tests.experiments.traces.helpers import sentencepiece_tokenizer

TEXTS = (
    "Wait, 17 × 25 = 425. Hmm, the café — résumé.",
    "<|User|>What is 3 + 4?<|Assistant|><think>\nLet me think.</think> 7",
    " leading space and trailing ",
    "−5 + 3 = −2",
    CORPUS[:900],
)


@pytest.fixture(params=["byte-level", "sentencepiece"])
def tokenizer(request: pytest.FixtureRequest):
    return tiny_tokenizer() if request.param == "byte-level" else sentencepiece_tokenizer()


@pytest.mark.parametrize("text", TEXTS)
def test_spans_tile_the_decoded_text_and_match_prefix_decoding(tokenizer, text: str) -> None:
    ids = tokenizer(text)["input_ids"]
    decoded = token_char_spans(tokenizer, ids)
    assert decoded.text == tokenizer.decode(
        ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
    )
    assert decoded.spans == _exact(decoder(tokenizer), ids, decoded.text)
    ends = [e for _, e in decoded.spans]
    assert ends == sorted(ends) and ends[-1] == len(decoded.text)
    assert all(a <= b for a, b in decoded.spans)


def test_multi_byte_characters_split_over_tokens_share_the_character() -> None:
    tok = tiny_tokenizer()
    ids = tok("ok 日本")["input_ids"]
    decoded = token_char_spans(tok, ids)
    pieces = [decoded.text[a:b] for a, b in decoded.spans]
    assert pieces[-6:] == ["日", "日", "日", "本", "本", "本"]


def test_a_token_ending_inside_a_character_covers_both_characters() -> None:
    tok = tiny_tokenizer()
    ids = tok(" −2")[
        "input_ids"
    ]  # ' â' + 'Ī' + 'Ĵ': the first token holds the space and a byte of −
    decoded = token_char_spans(tok, ids)
    assert [decoded.text[a:b] for a, b in decoded.spans][1:4] == [" −", "−", "−"]


def test_byte_fallback_runs_and_cut_off_characters() -> None:
    sp = sentencepiece_tokenizer()
    ids = sp("Hmm 日本 ok")["input_ids"]
    decoded = token_char_spans(sp, ids)
    pieces = [decoded.text[a:b] for a, b in decoded.spans if b > a]
    assert pieces[-9:] == ["日"] * 3 + ["本"] * 3 + [" ", "o", "k"]
    tok = tiny_tokenizer()
    cut = tok("ok 日")["input_ids"][:-1]  # generation stopped inside a character
    decoded = token_char_spans(tok, cut)
    assert decoded.text.endswith("\ufffd") and decoded.spans[-1][1] == len(decoded.text)
