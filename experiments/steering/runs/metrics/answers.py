"""Answer extraction: is the generation's final answer the prompt's computed answer?"""

from __future__ import annotations

import re

THINK_END = "</think>"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*\**\s*([^\n.,;]+)", re.IGNORECASE)


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
                return _clean(found[-1])
    numbers = NUMBER.findall(tail) or NUMBER.findall(text)
    return numbers[-1] if numbers else None


def answer_correct(text: str, answer: int | str | None) -> bool | None:
    """Whether the extracted answer equals ``answer`` (numbers by value, words case-insensitively).

    None when there is no reference answer. A generation that states no answer is wrong.
    """
    if answer is None:
        return None
    stated = extract_answer(text)
    if stated is None:
        return False
    if isinstance(answer, int) or NUMBER.fullmatch(str(answer).strip()):
        numbers = NUMBER.findall(stated)
        return bool(numbers) and float(numbers[-1]) == float(answer)
    return _clean(stated).lower() == _clean(str(answer)).lower()


def _clean(text: str) -> str:
    return text.strip().strip("*$ ").rstrip(".")
