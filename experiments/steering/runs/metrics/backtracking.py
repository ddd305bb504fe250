"""Backtracking sentences in a generation, by the toolkit's keyword labeller.

The sentences and the rule are those of ``backtrack label``: :func:`experiments.labels.segment`
splits the text, and :class:`experiments.labels.KeywordLabeller` (default lexicon: Wait, Hmm, But
wait, Actually, Alternatively, Hold on, Let me re-check, No, …) marks a sentence as backtracking
when it opens with a lexicon phrase. The LLM judge is not run on steered generations.

A generation continues its prompt: when the prompt stops mid-sentence, the generation's first words
finish that sentence rather than open one, so the prompt's end is segmented with it
(``context``). Two kinds of backtracking sentence do not count as coherent backtracking: an
*ungrounded* one, which "corrects" a value to itself ("Wait, 7 × 8 = 56, not 56.") and a
*repeated* one, the same text as the sentence just before it ("Wait, check. Wait, check.").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from experiments.labels import KeywordLabeller, Sentence

_NOT_PAIR = re.compile(r"([^\s,;:]+),?\s+not\s+([^\s,;:!?]+)", re.IGNORECASE)
_TRIM = re.compile(r"^[^\w\-]+|[^\w]+$")


@cache
def _labeller() -> KeywordLabeller:
    from experiments.labels import KeywordLabeller

    return KeywordLabeller()


def labeller_info() -> dict[str, Any]:
    """Which labeller counts backtracking, with its settings (recorded in every run)."""
    labeller = _labeller()
    return {"name": labeller.name, "config": labeller.config_dict()}


@dataclass(frozen=True)
class BacktrackingCounts:
    """The backtracking sentences of one generation, by kind."""

    total: int
    ungrounded: int
    """Sentences stating "X, not X": a correction to the value already there."""
    repeated: int
    """Sentences identical to the sentence just before them."""
    right_steps: int = 0
    """Sentences whose stated arithmetic (``a op b = c``) is all correct, with a sentence after
    them: the places where a backtrack would have no visible error to catch."""
    after_right: int = 0
    """Backtracking sentences right after such a sentence."""

    @property
    def coherent(self) -> int:
        """Backtracking sentences that are neither ungrounded nor repeats."""
        return self.total - self.ungrounded - self.repeated


def _sentences(text: str, context: str) -> list[Sentence]:
    """The sentences of ``text`` (spans into ``text``), ``context`` being the text before it."""
    from experiments.labels import Sentence, segment

    shift = len(context)
    out = []
    for s in segment(context + text):
        if s.start >= shift:
            out.append(Sentence(start=s.start - shift, end=s.end - shift, text=s.text))
        elif s.end > shift:  # began in the prompt: its rest is no sentence of the generation's
            continue
    return out


def backtracking_sentences(text: str, *, context: str = "") -> list[Sentence]:
    """The sentences of ``text`` that the keyword labeller marks as backtracking (with spans);
    ``context`` is the text just before ``text`` (e.g. the prompt's end)."""
    labeller = _labeller()
    return [s for s in _sentences(text, context) if labeller.matched_phrase(s.text) is not None]


def count_backtracking_sentences(text: str, *, context: str = "") -> int:
    """Number of backtracking sentences in ``text`` (keyword labeller)."""
    return len(backtracking_sentences(text, context=context))


def backtracking_counts(text: str, *, context: str = "") -> BacktrackingCounts:
    """Backtracking sentences of ``text``, with the ungrounded and repeated ones counted apart, and
    those that follow a sentence whose stated arithmetic is correct (no error to catch; the
    verdict of :func:`~experiments.steering.runs.decision_points.arithmetic_verdict`)."""
    from experiments.steering.runs.decision_points import arithmetic_verdict

    labeller = _labeller()
    sentences = _sentences(text, context)
    total = ungrounded = repeated = right_steps = after_right = 0
    previous, previous_right = "", False
    for s in sentences:
        norm = " ".join(s.text.lower().split())
        backtracking = labeller.matched_phrase(s.text) is not None
        if previous_right:
            right_steps += 1
            after_right += backtracking
        if backtracking:
            total += 1
            if norm == previous:
                repeated += 1
            elif is_ungrounded(s.text):
                ungrounded += 1
        previous, previous_right = norm, arithmetic_verdict(s.text) == "correct"
    return BacktrackingCounts(total, ungrounded, repeated, right_steps, after_right)


def is_ungrounded(sentence: str) -> bool:
    """Whether ``sentence`` "corrects" something to itself: "X, not X" (same value both sides)."""
    for match in _NOT_PAIR.finditer(sentence):
        a, b = (_TRIM.sub("", part).lower() for part in match.groups())
        if a and a == b:
            return True
    return False
