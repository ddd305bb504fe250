"""Train/validation/test splits by trace (or prompt), never by token, so no trace leaks across.

Groups (trace ids, or what ``group_regex`` extracts from them) are shuffled with a seed and cut so
that each split holds about its share of the *events*; a split with no event is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from activation_store.core.errors import InputError

TRAIN, VAL, TEST = 0, 1, 2
PART_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class GroupSplit:
    """Which split each sequence (and so each row) belongs to."""

    seq_group: NDArray[np.int64]
    """[n_sequences] group index of each sequence."""
    group_names: list[str]
    group_part: NDArray[np.int8]
    """[n_groups] TRAIN, VAL or TEST."""

    def seq_part(self) -> NDArray[np.int8]:
        return self.group_part[self.seq_group]

    def counts(self) -> dict[str, int]:
        return {name: int((self.group_part == i).sum()) for i, name in enumerate(PART_NAMES)}


def trace_groups(
    trace_ids: Sequence[str], group_regex: str | None
) -> tuple[NDArray[np.int64], list[str]]:
    """Group index per sequence: the trace id itself, or the regex's first group (whole match if none)."""
    if group_regex is None:
        keys = list(trace_ids)
    else:
        try:
            pattern = re.compile(group_regex)
        except re.error as err:
            raise InputError(f"group_regex {group_regex!r} is not a valid regex: {err}") from err
        keys = []
        for tid in trace_ids:
            m = pattern.search(tid)
            if m is None:
                raise InputError(
                    f"group_regex {group_regex!r} does not match trace id {tid!r}; fix the regex"
                )
            keys.append(m.group(1) if pattern.groups else m.group(0))
    names = sorted(set(keys))
    index = {k: i for i, k in enumerate(names)}
    return np.array([index[k] for k in keys], dtype=np.int64), names


def split_groups(
    trace_ids: Sequence[str],
    events_per_seq: NDArray[np.integer],
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    group_regex: str | None = None,
) -> GroupSplit:
    """Shuffle groups (seeded) and cut them into test, val and train by cumulative event share."""
    seq_group, names = trace_groups(trace_ids, group_regex)
    events = np.bincount(seq_group, weights=events_per_seq, minlength=len(names))
    with_events = int((events > 0).sum())
    if with_events < 3:
        raise InputError(
            f"only {with_events} trace group(s) contain events; a train/val/test split by trace "
            "needs at least 3: label more traces"
        )
    order = np.random.default_rng(seed).permutation(len(names))
    share = np.cumsum(events[order]) / events.sum()
    before = share - events[order] / events.sum()  # share of events placed before each group
    part = np.full(len(names), TRAIN, dtype=np.int8)
    part[order[before < test_fraction]] = TEST
    part[order[(before >= test_fraction) & (before < test_fraction + val_fraction)]] = VAL
    for p in (TEST, VAL, TRAIN):  # every split needs at least one group with events
        if not (events[part == p] > 0).any():
            donor = next(q for q in (TRAIN, VAL, TEST) if ((events > 0) & (part == q)).sum() > 1)
            part[np.flatnonzero((events > 0) & (part == donor))[0]] = p
    return GroupSplit(seq_group=seq_group, group_names=names, group_part=part)
