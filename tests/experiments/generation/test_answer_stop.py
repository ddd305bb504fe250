"""Stopping at the answer line: the grammar of a finished answer and the per-row watch."""

from __future__ import annotations

import pytest
import torch

from experiments.generation.answers import answer_finished, opens_thinking, stated_answer
from experiments.generation.config import GenerationConfig, GenerationConfigError
from experiments.generation.stopping import AnswerWatch, RowStops, StopRule


@pytest.mark.parametrize(
    ("text", "thinking", "done"),
    [
        ("</think>\nThe answer is 30.\n", True, True),
        ("</think>\nThe answer is 30. Done", True, True),
        ("</think>\nThe answer is 30.", True, False),  # "30." may go on to "30.5"
        ("</think>\nThe answer is 3.5.\n", True, True),
        ("</think>\nThe answer is 3.5", True, False),
        ("</think>\nso \\boxed{12}", True, True),
        ("So the answer is 7.\nWait, no.", True, False),  # still thinking: not final
        ("So the answer is 7.\nWait, no.", False, True),  # a model that was not thinking
        ("</think>\nThe answer is yes.\n", True, True),
        ("</think>\nThe answer is", True, False),
    ],
)
def test_answer_finished(text: str, thinking: bool, done: bool) -> None:
    assert answer_finished(text, thinking=thinking) is done


def test_stated_answer_needs_the_thinking_closed() -> None:
    assert stated_answer("the answer is 4\nWait", thinking=True) is None
    assert stated_answer("x\n</think>\nThe answer is 4.", thinking=True) == "4"
    assert stated_answer("the answer is 4", thinking=False) == "4"
    assert stated_answer("12 + 3 = 15", thinking=False) is None  # no statement, no guess


def test_opens_thinking() -> None:
    assert opens_thinking("<|im_start|>assistant\n<think>\n")
    assert not opens_thinking("<think>x</think>\n")
    assert not opens_thinking("<|im_start|>assistant\n")


def _stream(pieces: list[str]) -> tuple[list[int], dict[int, str]]:
    vocab = {i: p for i, p in enumerate(pieces)}
    return list(vocab), vocab


def test_answer_watch_stops_one_token_after_the_answer() -> None:
    ids, vocab = _stream(
        ["Ok", ".\n", "</", "think", ">", "\n", "The answer is ", "3", "0", ".", "\n"]
    )
    rule = StopRule(token_reasons={}, think_text=None, think_window=0, answer=True, close_window=5)
    watch = AnswerWatch(rule, lambda t: "".join(vocab[i] for i in t), thinking=True)
    stops = [n for n in range(1, len(ids) + 1) if watch.done(ids[:n])]
    assert stops[0] == len(ids)  # at the line break after "30.", not at "3" or "30."


def test_answer_watch_is_off_without_the_rule() -> None:
    rule = StopRule(token_reasons={}, think_text=None, think_window=0, answer=False)
    watch = AnswerWatch(rule, lambda t: "answer is 3.\n", thinking=False)
    assert not watch.done([1, 2])


def test_row_stops_mark_answer_rows_in_a_batch() -> None:
    vocab = {0: "<think>\n", 1: "x", 2: "</think>", 3: "answer is 4", 4: ".\n", 9: "q"}
    rule = StopRule(token_reasons={}, think_text=None, think_window=0, answer=True, close_window=3)
    stops = RowStops(rule, lambda t: "".join(vocab[i] for i in t), prompt_len=2, batch=2)
    generated = [3, 4, 1, 2, 3, 4]  # an answer while thinking, then </think> and the answer
    rows = [[9, 0, *generated], [9, 9, *generated]]  # row 0's prompt opened thinking
    for n in range(3, 9):
        done = stops(torch.tensor([r[:n] for r in rows]), torch.zeros(2, 1))
    assert done.tolist() == [True, True]
    assert stops.finished == [(6, "answer"), (2, "answer")]


def test_stop_at_answer_refuses_stopping_at_think_end_first() -> None:
    with pytest.raises(GenerationConfigError, match="stop_at_think_end = false"):
        GenerationConfig(stop_at_answer=True)
    GenerationConfig(stop_at_answer=True, stop_at_think_end=False)
