"""Top-activating contexts: the token windows around a feature's largest activations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from activation_store.tokens import TokenTable

Decode = Callable[[Sequence[int]], list[str]]
"""Token ids → one display string per token."""


@dataclass(frozen=True, kw_only=True)
class Context:
    """Tokens around one of a feature's top activations, with the feature's activation on each."""

    row: int
    """Store row of the max-activating token."""
    trace_id: str
    position: int
    """Position of that token in its sequence."""
    focus: int
    """Index of that token inside ``token_ids``."""
    token_ids: tuple[int, ...]
    activations: tuple[float, ...]
    """The feature's activation on each context token."""
    tokens: tuple[str, ...] = ()
    """Decoded text of each token (empty until decoded)."""
    events: tuple[int, ...] = ()
    """Indices (into ``token_ids``) of event tokens, e.g. backtracking starts."""

    @property
    def activation(self) -> float:
        return self.activations[self.focus]

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "trace_id": self.trace_id,
            "position": self.position,
            "activation": self.activation,
            "focus": self.focus,
            "token_ids": list(self.token_ids),
            "tokens": list(self.tokens),
            "activations": list(self.activations),
            "events": list(self.events),
        }


def top_contexts(
    tokens: TokenTable,
    acts: NDArray[np.float32],
    allowed: NDArray[np.bool_],
    n: int,
    before: int,
    after: int,
    events: NDArray[np.bool_] | None = None,
) -> tuple[Context, ...]:
    """The ``n`` largest positive activations among ``allowed`` rows, at most one per context
    window (a peak's neighbours are skipped), each with ``before``/``after`` tokens around it and
    the ``events`` rows inside it marked."""
    scores = np.where(allowed, acts, 0.0)
    n_pos = int((scores > 0).sum())
    if n == 0 or n_pos == 0:
        return ()
    pool = min(n_pos, max(8 * n, n + before + after) * 4)
    cand = np.argpartition(-scores, pool - 1)[:pool]
    cand = cand[np.argsort(-scores[cand], kind="stable")]
    taken: list[int] = []
    seq_of = tokens.seq_index
    for row in cand:
        if scores[row] <= 0 or len(taken) == n:
            break
        if any(
            seq_of[t] == seq_of[row] and abs(int(t) - int(row)) <= max(before, after) for t in taken
        ):
            continue
        taken.append(int(row))
    return tuple(_context(tokens, acts, row, before, after, events) for row in taken)


def _context(
    tokens: TokenTable,
    acts: NDArray[np.float32],
    row: int,
    before: int,
    after: int,
    events: NDArray[np.bool_] | None,
) -> Context:
    seq = int(tokens.seq_index[row])
    lo = max(int(tokens.offsets[seq]), row - before)
    hi = min(int(tokens.offsets[seq + 1]), row + after + 1, acts.shape[0])
    return Context(
        row=row,
        trace_id=str(tokens.trace_ids[seq]),
        position=int(tokens.positions[row]),
        focus=row - lo,
        token_ids=tuple(int(t) for t in tokens.ids[lo:hi]),
        activations=tuple(float(a) for a in acts[lo:hi]),
        events=tuple(int(i) for i in np.flatnonzero(events[lo:hi])) if events is not None else (),
    )


def decoded(contexts: Sequence[Context], decode: Decode) -> tuple[Context, ...]:
    """The contexts with ``tokens`` filled in."""
    return tuple(replace(c, tokens=tuple(decode(c.token_ids))) for c in contexts)
