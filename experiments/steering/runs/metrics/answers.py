"""Answer extraction: is the generation's final answer the prompt's computed answer?

The grammar of an answer statement lives in :mod:`experiments.generation.answers` (shared with
the stop rule that ends a generation at its answer).
"""

from __future__ import annotations

import re

from experiments.generation.answers import ANSWER_IS, BOXED, THINK_END, clean, stated_answer

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def extract_answer(text: str) -> str | None:
    """The final answer a generation states, or None.

    Looks, in order, at the text after ``</think>`` (else the whole text): the last ``\\boxed{…}``,
    the last "answer is X" / "answer: X", then the last number.
    """
    tail = text.split(THINK_END)[-1] if THINK_END in text else text
    for source in (tail, text):
        for pattern in (BOXED, ANSWER_IS):
            found = pattern.findall(source)
            if found:
                return clean(found[-1])
    numbers = NUMBER.findall(tail) or NUMBER.findall(text)
    return numbers[-1] if numbers else None


def answer_correct(text: str, answer: int | str | None) -> bool | None:
    """Whether the extracted answer equals ``answer`` (numbers by value, words case-insensitively).

    None when there is no reference answer. A generation that states no answer is wrong.
    """
    if answer is None:
        return None
    return matches(extract_answer(text), answer)


def answered_correctly(text: str, answer: int | str | None, *, thinking: bool) -> bool | None:
    """Whether the generation *states* a final answer (see
    :func:`experiments.generation.answers.stated_answer`) and it equals ``answer``; no last-number
    guess, so a generation cut off before its answer is not right by luck. None without a
    reference answer."""
    if answer is None:
        return None
    return matches(stated_answer(text, thinking=thinking), answer)


def matches(stated: str | None, answer: int | str) -> bool:
    """Whether a stated answer equals the reference (numbers by value, words case-insensitively)."""
    if stated is None:
        return False
    if isinstance(answer, int) or NUMBER.fullmatch(str(answer).strip()):
        numbers = NUMBER.findall(stated)
        return bool(numbers) and float(numbers[-1]) == float(answer)
    return clean(stated).lower() == clean(str(answer)).lower()
