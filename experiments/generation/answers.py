"""How a generation states its final answer: the one grammar the stop rule and the accuracy
metric share (light: no torch import).

A final answer is ``\\boxed{…}`` or "answer is X" / "answer: X". A model that was thinking when
its prompt ended (the prompt's last ``<think>`` is not closed, as in R1-style chat templates) has
stated its answer only *after* it closes the thinking with ``</think>``: "so the answer is 7" in
the middle of a thought is not its final answer, and it may still backtrack from it.
"""

from __future__ import annotations

import re

THINK_START = "<think>"
THINK_END = "</think>"
BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*\**\s*([^\n.,;]+)", re.IGNORECASE)
ANSWER_DONE = re.compile(
    r"\\boxed\{[^{}]*\}"
    r"|answer\s*(?:is|:)\s*\**\s*[^\s.,;](?:[^\n.,;]|[.,](?=\d))*(?:\n|[.,;](?=\D))",
    re.IGNORECASE,
)
"""A *finished* answer statement: ``\\boxed{…}`` closed, or "answer is X" followed by a line break
or by a full stop / comma / semicolon and one more character that is not a digit (so "3." in
"3.5" is not taken for the end; a generation that ends at "X." stops at EOS anyway)."""


def opens_thinking(prompt_text: str) -> bool:
    """Whether a prompt leaves the model thinking: its last ``<think>`` is not closed after it."""
    start = prompt_text.rfind(THINK_START)
    return start >= 0 and prompt_text.find(THINK_END, start) < 0


def answer_part(text: str, *, thinking: bool) -> str | None:
    """The part of a generation where a final answer may stand: after its last ``</think>`` when
    the prompt left the model thinking (None if it never closed the thinking), else all of it."""
    if not thinking:
        return text
    if THINK_END not in text:
        return None
    return text.rsplit(THINK_END, 1)[1]


def answer_finished(text: str, *, thinking: bool) -> bool:
    """Whether ``text`` (generated so far) holds a finished final-answer statement."""
    part = answer_part(text, thinking=thinking)
    return part is not None and ANSWER_DONE.search(part) is not None


def stated_answer(text: str, *, thinking: bool) -> str | None:
    """The final answer a generation states explicitly (last ``\\boxed{…}``, else last "answer
    is X"), or None — unlike a last-number guess, None means it never stated one."""
    part = answer_part(text, thinking=thinking)
    if part is None:
        return None
    for pattern in (BOXED, ANSWER_IS):
        found = pattern.findall(part)
        if found:
            return clean(found[-1])
    return None


def clean(text: str) -> str:
    """An answer without surrounding spaces, markdown stars, dollars and a final full stop."""
    return text.strip().strip("*$ ").rstrip(".")
