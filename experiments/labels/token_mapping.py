"""From labelled sentence spans (characters) to per-token labels, through the traces' offsets.

- ``backtracking_start``: 1 at the token containing the first character of each backtracking
  sentence. A token that straddles the boundary (``" Wait"``, or ``".\\n\\nWait"`` in one token)
  contains that character, so it is the start. A multi-byte first character split over several
  tokens marks the first of them.
- ``thinking``: 1 for tokens whose span overlaps the thinking span (the "<think>"/"</think>"
  tokens themselves are outside it).
- ``category``: the category id (see :mod:`experiments.labels.categories`) of the sentence holding
  the token's first non-whitespace character; 0 outside sentences and for whitespace-only tokens,
  -1 in sentences left unlabelled.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from jaxtyping import Int, UInt8
from numpy import ndarray

from experiments.labels.categories import BACKTRACKING, NO_CATEGORY_ID, category_id
from experiments.labels.result import LabelledSentence
from experiments.traces.record import Trace


class TokenLabels(NamedTuple):
    """Per-token labels of one trace (length = its token count)."""

    backtracking_start: UInt8[ndarray, " pos"]
    thinking: UInt8[ndarray, " pos"]
    category: Int[ndarray, " pos"]


def token_containing(trace: Trace, char: int) -> int:
    """Index of the first token whose span contains character ``char`` of ``trace.text``.

    Token spans tile the text in order (see :mod:`experiments.traces.offsets`), so this is the
    first token ending after ``char``.
    """
    ends = [end for _, end in trace.token_offsets]
    i = bisect.bisect_right(ends, char)
    if i == len(ends) or trace.token_offsets[i][0] > char:
        raise ValueError(f"trace {trace.id!r}: no token covers character {char}")
    return i


def token_labels(trace: Trace, sentences: Sequence[LabelledSentence]) -> TokenLabels:
    """The three per-token label arrays of ``trace`` from its labelled sentences."""
    n = len(trace.token_ids)
    offsets_N2 = np.asarray(trace.token_offsets, dtype=np.int64).reshape(n, 2)
    lo, hi = trace.thinking_span
    thinking_N = (
        (offsets_N2[:, 0] < hi) & (offsets_N2[:, 1] > lo) & (offsets_N2[:, 1] > offsets_N2[:, 0])
    )
    starts_N = np.zeros(n, dtype=np.uint8)
    for sentence in sentences:
        if sentence.label == BACKTRACKING:
            starts_N[token_containing(trace, sentence.start)] = 1
    return TokenLabels(starts_N, thinking_N.astype(np.uint8), _categories(trace, sentences))


def _categories(trace: Trace, sentences: Sequence[LabelledSentence]) -> Int[ndarray, " pos"]:
    ordered = sorted(sentences, key=lambda s: s.start)
    begins = [s.start for s in ordered]
    out = np.full(len(trace.token_ids), NO_CATEGORY_ID, dtype=np.int8)
    if not ordered:
        return out
    text = trace.text
    for i, (start, end) in enumerate(trace.token_offsets):
        piece = text[start:end]
        stripped = piece.lstrip()
        if not stripped:
            continue
        anchor = start + len(piece) - len(stripped)
        k = bisect.bisect_right(begins, anchor) - 1
        if k >= 0 and anchor < ordered[k].end:
            out[i] = category_id(ordered[k].label)
    return out
