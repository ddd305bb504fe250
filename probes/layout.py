"""Where each token sits in its trace's layout — its line and sentence — for two probe controls.

A probe that "reads upcoming backtracking" may be reading the template instead: in formulaic
traces, "this token is three tokens before the end of a Check line" predicts a backtracking
sentence as well as any concept would. Two controls use the layout computed here, from the token
ids alone (no activations):

- the **structure baseline**: the same probe on layout features only (which token opened the line,
  how far the token is from the line's and the sentence's start and from the line's end, where it
  sits in the sequence) — what position in the template explains, as a number;
- **matched negatives**: negatives drawn from tokens in the same layout slot as the positives
  (same line opener, same distance to the line's end and start), so that position alone cannot
  separate the classes; *position* negatives match the distances only.

A line ends at a token whose text holds a newline; a sentence ends there too, or at a token whose
text ends with ``.``, ``!`` or ``?``. The distance to the line's end uses tokens after the one
probed: a probe cannot see them, but a template makes them predictable, and a baseline that is to
explain effects away should be as strong as the layout allows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from activation_store.core.errors import InputError

if TYPE_CHECKING:
    from activation_store.reader import ActivationStore

CLIP = 32
"""Distances are one-hot encoded up to this many tokens (larger ones share the last bucket)."""
N_OPENERS = 48
"""The most frequent line openers get a feature each; the others share one."""


@dataclass(frozen=True)
class Layout:
    """Per token (store rows, in order): its place in its line and sentence."""

    since_line: NDArray[np.int64]
    """Tokens since its line began (0: the line's first token)."""
    until_line: NDArray[np.int64]
    """Tokens until its line ends (0: the token holding the newline, or the sequence's last)."""
    since_sentence: NDArray[np.int64]
    """Tokens since its sentence began."""
    line_opener: NDArray[np.int64]
    """Token id of its line's first token."""
    position: NDArray[np.int64]
    """Position in its sequence."""

    def key(self, level: int, *, opener: bool = True) -> NDArray[np.int64]:
        """The layout slot of every token, from finest (level 0: opener, distance to the line's
        end and from its start) to coarsest (every token in one slot: level 3, or 2 without the
        ``opener``)."""
        parts: list[NDArray[np.int64]] = [
            *([self.line_opener] if opener else []),
            np.minimum(self.until_line, CLIP),
            np.minimum(self.since_line, CLIP),
        ]
        parts = parts[: len(parts) - level]
        if not parts:
            return np.zeros(len(self.position), dtype=np.int64)
        return np.unique(np.stack(parts, axis=1), axis=0, return_inverse=True)[1].reshape(-1)

    def features(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """One-hot layout features of ``rows`` for the structure-baseline probe."""
        openers, counts = np.unique(self.line_opener, return_counts=True)
        frequent = openers[np.argsort(-counts, kind="stable")[:N_OPENERS]]
        opener_col = np.searchsorted(np.sort(frequent), self.line_opener[rows])
        known = np.isin(self.line_opener[rows], frequent)
        blocks = [
            _one_hot(np.where(known, opener_col, len(frequent)), len(frequent) + 1),
            _one_hot(np.minimum(self.since_line[rows], CLIP), CLIP + 1),
            _one_hot(np.minimum(self.until_line[rows], CLIP), CLIP + 1),
            _one_hot(np.minimum(self.since_sentence[rows], CLIP), CLIP + 1),
            _one_hot(np.minimum(np.log2(self.position[rows] + 1).astype(np.int64), 15), 16),
        ]
        return np.concatenate(blocks, axis=1)


def _one_hot(index: NDArray[np.int64], width: int) -> NDArray[np.float32]:
    out = np.zeros((len(index), width), dtype=np.float32)
    out[np.arange(len(index)), index] = 1.0
    return out


def token_layout(
    ids: NDArray[np.integer],
    seq_index: NDArray[np.integer],
    decode: Callable[[Sequence[int]], Sequence[str]],
) -> Layout:
    """The :class:`Layout` of every token; ``decode`` turns token ids into their texts (each id
    once: only the distinct ids are decoded)."""
    ids = np.asarray(ids, dtype=np.int64)
    seq = np.asarray(seq_index, dtype=np.int64)
    vocab = np.unique(ids)
    texts = decode([int(t) for t in vocab])
    newline = np.array(["\n" in t for t in texts], dtype=bool)
    full_stop = np.array([t.rstrip().endswith((".", "!", "?")) for t in texts], dtype=bool)
    where = np.searchsorted(vocab, ids)
    ends_line = newline[where]
    ends_sentence = ends_line | full_stop[where]
    n = len(ids)
    index = np.arange(n)
    seq_start = np.r_[True, seq[1:] != seq[:-1]] if n else np.zeros(0, dtype=bool)
    seq_end = np.r_[seq[1:] != seq[:-1], True] if n else np.zeros(0, dtype=bool)
    line_start = seq_start | np.r_[False, ends_line[:-1]]
    line_end = seq_end | ends_line
    sentence_start = seq_start | np.r_[False, ends_sentence[:-1]]
    first_of_line = index[line_start][np.cumsum(line_start) - 1]
    # the last token of each token's line: the next line end at or after it
    ends = index[line_end]
    last_of_line = ends[np.searchsorted(ends, index)]
    first_of_sentence = index[sentence_start][np.cumsum(sentence_start) - 1]
    first_of_seq = index[seq_start][np.cumsum(seq_start) - 1]
    return Layout(
        since_line=index - first_of_line,
        until_line=last_of_line - index,
        since_sentence=index - first_of_sentence,
        line_opener=ids[first_of_line],
        position=index - first_of_seq,
    )


def store_layout(store: ActivationStore, model: str) -> Layout:
    """The layout of every token of ``store``, read with the tokenizer of ``model``'s
    ``model_id`` (loaded without big weights where possible)."""
    from activation_store.models.tokenizer import load_tokenizer

    model_id = str(store.model_attrs(model).get("model_id", ""))
    tokenizer = load_tokenizer(model_id)
    if tokenizer is None:
        raise InputError(
            f"no tokenizer for {model_id!r} (model {model!r} of the store) to find line and "
            "sentence ends; pass --negatives uniform --no-structure-baseline"
        )
    return token_layout(
        store.tokens.ids, store.tokens.seq_index, lambda ids: [tokenizer.decode([i]) for i in ids]
    )
