"""Sentence spans → token labels, on real tokenizations (multi-byte characters, straddling tokens)."""

from __future__ import annotations

import numpy as np

from activation_store.models.tiny import tiny_tokenizer
from experiments.labels import (
    CATEGORY_IDS,
    KeywordLabeller,
    label_traces,
    token_containing,
    token_labels,
)
from experiments.labels.result import LabelledSentence
from tests.experiments.labels.helpers import THINKING, make_trace


def test_every_backtracking_sentence_marks_the_token_holding_its_first_character() -> None:
    trace = make_trace("t", THINKING)
    run = label_traces([trace], KeywordLabeller())
    sentences = run.labels[0].sentences
    back = [s for s in sentences if s.label == "backtracking"]
    assert [trace.text[s.start : s.end].split()[0] for s in back] == [
        "Wait,",
        "Hmm…",
        "But",
        "Let",
        "No,",
    ]
    labels = token_labels(trace, sentences)
    marked = np.flatnonzero(labels.backtracking_start)
    assert len(marked) == len(back)
    for i, s in zip(marked, back, strict=True):
        start, end = trace.token_offsets[i]
        assert start <= s.start < end  # the token contains the sentence's first character
        assert i >= trace.n_prompt_tokens


def test_straddling_tokens_and_multi_byte_sentence_openings() -> None:
    tok = tiny_tokenizer()
    trace = make_trace("t", "It is 5. Hmm, wait. 日本 is next? Yes.", tok=tok)
    run = label_traces([trace], KeywordLabeller())
    assert [s.label for s in run.labels[0].sentences] == ["other", "backtracking", "other", "other"]
    hmm = run.labels[0].sentences[1]
    i = token_containing(trace, hmm.start)
    assert (
        trace.text[slice(*trace.token_offsets[i])] == " Hmm"
    )  # straddles: space, then the sentence
    assert np.flatnonzero(
        token_labels(trace, run.labels[0].sentences).backtracking_start
    ).tolist() == [i]
    cjk = LabelledSentence(trace.text.index("日本"), trace.text.index("?") + 1, "backtracking")
    j = token_containing(trace, cjk.start)
    pieces = [trace.text[slice(*trace.token_offsets[k])] for k in range(j - 1, j + 4)]
    assert pieces == [
        " ",
        "日",
        "日",
        "日",
        "本",
    ]  # 日 is three byte tokens: the first one is marked
    assert np.flatnonzero(token_labels(trace, [cjk]).backtracking_start).tolist() == [j]


def test_thinking_and_category_arrays() -> None:
    trace = make_trace("t", "Okay, start here. Wait, no.")
    sentences = (
        LabelledSentence(trace.text.index("Okay"), trace.text.index("here.") + 5, "initializing"),
        LabelledSentence(trace.text.index("Wait"), trace.text.index("no.") + 3, None),
    )
    labels = token_labels(trace, sentences)
    think_open = trace.token_ids.index(tiny_tokenizer().convert_tokens_to_ids("<think>"))
    think_close = trace.token_ids.index(tiny_tokenizer().convert_tokens_to_ids("</think>"))
    inside = np.flatnonzero(labels.thinking)
    assert inside.min() == think_open + 1 and inside.max() == think_close - 1
    pieces = [trace.text[a:b] for a, b in trace.token_offsets][think_open + 1 : think_close]
    got = labels.category[think_open + 1 : think_close].tolist()
    init, none, unlabelled = CATEGORY_IDS["initializing"], 0, -1
    assert list(zip(pieces, got, strict=True)) == [
        ("\n", none), ("Ok", init), ("ay", init), (",", init), (" st", init), ("a", init),
        ("r", init), ("t", init), (" ", none), ("he", init), ("re", init), (".", init),
        (" ", none), ("Wait", unlabelled), (",", unlabelled), (" no", unlabelled), (".", unlabelled),
    ]  # fmt: skip
    assert labels.category[: trace.n_prompt_tokens].tolist() == [0] * trace.n_prompt_tokens
