"""Backtracking sentences in a generation, by the toolkit's keyword labeller.

The sentences and the rule are those of ``backtrack label``: :func:`experiments.labels.segment`
splits the text, and :class:`experiments.labels.KeywordLabeller` (default lexicon: Wait, Hmm, But
wait, Actually, Alternatively, Hold on, Let me re-check, No, …) marks a sentence as backtracking
when it opens with a lexicon phrase. The LLM judge is not run on steered generations.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from experiments.labels import KeywordLabeller, Sentence


@cache
def _labeller() -> KeywordLabeller:
    from experiments.labels import KeywordLabeller

    return KeywordLabeller()


def labeller_info() -> dict[str, Any]:
    """Which labeller counts backtracking, with its settings (recorded in every run)."""
    labeller = _labeller()
    return {"name": labeller.name, "config": labeller.config_dict()}


def backtracking_sentences(text: str) -> list[Sentence]:
    """The sentences of ``text`` that the keyword labeller marks as backtracking (with spans)."""
    from experiments.labels import segment

    labeller = _labeller()
    return [s for s in segment(text) if labeller.matched_phrase(s.text) is not None]


def count_backtracking_sentences(text: str) -> int:
    """Number of backtracking sentences in ``text`` (keyword labeller)."""
    return len(backtracking_sentences(text))
