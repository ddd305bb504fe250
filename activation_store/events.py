"""Token rows at fixed offsets from labelled events, e.g. "12..8 tokens before each backtracking start"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from activation_store.core.errors import InputError


@dataclass(frozen=True)
class EventWindows:
    """Rows at ``offsets`` relative to each kept event; ``rows[e, j] = event_rows[e] + offsets[j]``."""

    event_rows: NDArray[np.int64]
    """[n_events] store rows of the kept events."""
    offsets: tuple[int, ...]
    rows: NDArray[np.int64]
    """[n_events, n_offsets] store rows of the window tokens."""
    n_skipped: int
    """Events dropped because part of their window falls outside their sequence (or ``within``)."""

    @property
    def n_events(self) -> int:
        return len(self.event_rows)

    def unique_rows(self) -> NDArray[np.int64]:
        return np.unique(self.rows)


def parse_offsets(text: str) -> tuple[int, ...]:
    """``"-12:-8"`` (inclusive range) or ``"-12,-10,0"`` → a tuple of offsets."""
    try:
        if ":" in text:
            lo, hi = (int(p) for p in text.split(":"))
            if hi < lo:
                raise InputError(f"offset range {text!r} is empty; write it low:high, e.g. -12:-8")
            return tuple(range(lo, hi + 1))
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError as err:
        raise InputError(
            f"offsets {text!r} are not integers; use e.g. -12:-8 or -12,-10,0"
        ) from err


def event_windows(
    seq_index: NDArray[np.integer],
    events: NDArray[np.bool_],
    offsets: Sequence[int],
    *,
    within: NDArray[np.bool_] | None = None,
) -> EventWindows:
    """Windows of ``offsets`` around every event row, keeping only windows that lie entirely inside
    the event's own sequence (and inside ``within``, e.g. the thinking span, when given)."""
    if not len(offsets):
        raise InputError("no offsets given; use e.g. -12:-8")
    n = len(seq_index)
    if events.shape != (n,) or (within is not None and within.shape != (n,)):
        raise InputError("label arrays must have one entry per stored token")
    event_rows = np.flatnonzero(events).astype(np.int64)
    offs = np.asarray(offsets, dtype=np.int64)
    rows = event_rows[:, None] + offs[None, :]
    inside = (rows >= 0) & (rows < n)
    clipped = np.clip(rows, 0, max(n - 1, 0))
    ok = inside & (seq_index[clipped] == seq_index[event_rows][:, None])
    if within is not None:
        ok &= within[clipped]
    keep = ok.all(axis=1)
    return EventWindows(
        event_rows=event_rows[keep],
        offsets=tuple(int(o) for o in offs),
        rows=rows[keep],
        n_skipped=int((~keep).sum()),
    )
