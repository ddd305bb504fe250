"""Token-level text statistics: the paper's "Wait"/"Hmm" word fraction and a repetition rate."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
BACKTRACK_WORDS = frozenset({"wait", "hmm"})
"""Words whose share of all words is the paper's token-level backtracking metric."""


@dataclass(frozen=True)
class WordCounts:
    """Word statistics of one text (case-insensitive)."""

    n_words: int
    """Words (letters, optionally with one apostrophe part)."""
    wait_hmm_fraction: float
    """Share of words that are "wait" or "hmm" (0 for an empty text)."""
    wait: int
    """Occurrences of the word "wait"."""
    but: int
    """Occurrences of the word "but"."""


def word_counts(text: str) -> WordCounts:
    """Count words, "wait"/"hmm" and "but" in ``text``."""
    words = [w.lower() for w in WORD.findall(text)]
    n = len(words)
    hits = sum(w in BACKTRACK_WORDS for w in words)
    return WordCounts(
        n_words=n,
        wait_hmm_fraction=hits / n if n else 0.0,
        wait=words.count("wait"),
        but=words.count("but"),
    )


def repetition_rate(token_ids: Sequence[int], n: int = 4) -> float:
    """Share of the ``n``-grams of ``token_ids`` that repeat an earlier one (0 = none repeated).

    Degenerate output ("Wait Wait Wait …", loops) scores near 1; ordinary reasoning text of a few
    hundred tokens scores well under 0.3.
    """
    grams = [tuple(token_ids[i : i + n]) for i in range(len(token_ids) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)
