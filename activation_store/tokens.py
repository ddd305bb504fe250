"""The token table a store is built on: sequences of token ids with their source ids."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from activation_store.core.errors import InputError


@dataclass(frozen=True, eq=False)
class TokenTable:
    """Token ids of several sequences, concatenated, with the sequence boundaries.

    ``ids[offsets[s]:offsets[s + 1]]`` are the tokens of sequence ``s``, whose source id is
    ``trace_ids[s]``. Rows of every activation dataset follow this order.
    """

    ids: NDArray[np.int32]
    offsets: NDArray[np.int64]
    trace_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or len(self.offsets) != len(self.trace_ids) + 1:
            raise InputError("token table: offsets must have one entry more than trace_ids")
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.ids):
            raise InputError("token table: offsets must start at 0 and end at the token count")
        if np.any(np.diff(self.offsets) <= 0):
            empty = self.trace_ids[int(np.argmax(np.diff(self.offsets) <= 0))]
            raise InputError(f"sequence {empty!r} has no tokens; drop it from the input")
        if len(set(self.trace_ids)) != len(self.trace_ids):
            seen: set[str] = set()
            dup = next(t for t in self.trace_ids if t in seen or seen.add(t))  # type: ignore[func-returns-value]
            raise InputError(f"sequence id {dup!r} appears twice; ids must be unique")

    @classmethod
    def from_sequences(
        cls, trace_ids: Sequence[str], sequences: Sequence[Sequence[int]]
    ) -> TokenTable:
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = [t for s in sequences for t in s]
        ids = np.asarray(flat, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() > np.iinfo(np.int32).max):
            raise InputError("token ids must be non-negative 32-bit integers")
        return cls(ids=ids.astype(np.int32), offsets=offsets, trace_ids=tuple(trace_ids))

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @property
    def n_sequences(self) -> int:
        return len(self.trace_ids)

    @cached_property
    def seq_index(self) -> NDArray[np.int32]:
        return np.repeat(np.arange(self.n_sequences, dtype=np.int32), np.diff(self.offsets))

    @cached_property
    def positions(self) -> NDArray[np.int32]:
        starts = np.repeat(self.offsets[:-1], np.diff(self.offsets))
        return (np.arange(self.n_tokens, dtype=np.int64) - starts).astype(np.int32)

    def sequence(self, s: int) -> NDArray[np.int32]:
        return self.ids[self.offsets[s] : self.offsets[s + 1]]

    def fingerprint(self) -> str:
        """sha256 over ids, boundaries and source ids: equal tables have equal fingerprints."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.ids, dtype="<i4").tobytes())
        h.update(np.ascontiguousarray(self.offsets, dtype="<i8").tobytes())
        h.update("\x00".join(self.trace_ids).encode())
        return h.hexdigest()[:16]
