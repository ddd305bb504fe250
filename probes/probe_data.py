"""The rows a probe run reads, their labels per offset, split and evaluation weights.

Labels do not depend on the model, so this is built once per store. For offset ``d`` and window
width ``k`` a reference token is *positive* when its offset from some backtracking start of its own
sequence lies in ``[d-k+1, d]``. Every positive is used; negatives are a seeded uniform sample of
at most ``max_negatives`` reference tokens shared by all offsets (a sampled token that is a
positive at offset ``d`` counts as a positive there). The rows read from the store are the union
of all positives and the sample — a small subset of a large store.

Class imbalance: training is class-balanced (each class carries half the loss). Evaluation weights
each sampled negative of a split by (negatives in the split's population) / (negatives sampled from
it), so average precision and accuracy refer to the true prevalence; AUROC is unaffected by a
uniform negative weight.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from activation_store.core.errors import InputError
from activation_store.reader import ActivationStore
from probes.config import ProbeConfig
from probes.selection import Reference, event_mask, resolve_reference
from probes.splits import PART_NAMES, TEST, TRAIN, GroupSplit, split_groups

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeData:
    """Selected rows (sorted store rows) with per-offset labels, split and weights."""

    rows: NDArray[np.int64]
    """[n_rows] store rows to gather, sorted."""
    offsets: tuple[int, ...]
    positive: NDArray[np.bool_]
    """[n_offsets, n_rows] positive at each offset."""
    background: NDArray[np.bool_]
    """[n_rows] in the negative sample."""
    part: NDArray[np.int8]
    """[n_rows] TRAIN, VAL or TEST (by trace group)."""
    group: NDArray[np.int64]
    """[n_rows] split group of the row's sequence."""
    token_ids: NDArray[np.int64]
    """[n_rows] token id of each row (for the token-identity baseline)."""
    neg_weight: NDArray[np.float64]
    """[n_offsets, 3] evaluation weight of a sampled negative per split."""
    split: GroupSplit
    reference: Reference
    counts: dict[str, Any]

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def member(self, o: int, part: int) -> NDArray[np.bool_]:
        """Rows of offset ``o``'s problem (its positives and the sampled non-positives) in ``part``."""
        return (self.positive[o] | self.background) & (self.part == part)

    def eval_weights(self, o: int, part: int) -> NDArray[np.float64]:
        """Weights of ``member(o, part)`` rows: 1 per positive, the population weight per negative."""
        sel = self.member(o, part)
        return np.where(self.positive[o][sel], 1.0, self.neg_weight[o, part])


def build_probe_data(store: ActivationStore, config: ProbeConfig) -> ProbeData:
    """Select rows and labels for every offset of ``config``; refuse offsets with too few events."""
    reference = resolve_reference(store, config.within)
    events = event_mask(store, config.label)
    seq = store.tokens.seq_index
    positive_full, n_events = _positives(seq, events, reference.mask, config)
    split = split_groups(
        store.tokens.trace_ids,
        np.bincount(seq[events], minlength=store.tokens.n_sequences),
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
        group_regex=config.group_regex,
    )
    row_part = split.seq_part()[seq]
    ref_rows = np.flatnonzero(reference.mask)
    rng = np.random.default_rng(config.seed)
    bg_rows = np.sort(
        rng.choice(ref_rows, size=min(config.max_negatives, len(ref_rows)), replace=False)
    )
    rows = np.union1d(np.flatnonzero(positive_full.any(axis=0)), bg_rows)
    positive = positive_full[:, rows]
    background = np.isin(rows, bg_rows)
    part = row_part[rows]
    neg_weight, per_split = _negative_weights(
        positive_full, reference.mask, row_part, positive, background, part
    )
    _check_counts(config, per_split, n_events)
    counts = {
        "n_events": int(events.sum()),
        "n_reference_tokens": reference.n_rows,
        "n_background": len(bg_rows),
        "n_rows_read": len(rows),
        "groups": split.counts(),
        "per_offset": {
            str(d): {"events": n_events[o], **per_split[o]} for o, d in enumerate(config.offsets)
        },
    }
    return ProbeData(
        rows=rows,
        offsets=config.offsets,
        positive=positive,
        background=background,
        part=part,
        group=split.seq_group[seq[rows]],
        token_ids=store.tokens.ids[rows].astype(np.int64),
        neg_weight=neg_weight,
        split=split,
        reference=reference,
        counts=counts,
    )


def _positives(
    seq: NDArray[np.integer], events: NDArray[np.bool_], ref: NDArray[np.bool_], config: ProbeConfig
) -> tuple[NDArray[np.bool_], list[int]]:
    """[n_offsets, n_tokens] positives, and how many events contribute at each offset."""
    n = len(seq)
    ev = np.flatnonzero(events)
    positive = np.zeros((len(config.offsets), n), dtype=bool)
    n_events = []
    for o, d in enumerate(config.offsets):
        used = np.zeros(len(ev), dtype=bool)
        for j in range(d - config.k + 1, d + 1):
            r = np.clip(ev + j, 0, n - 1)
            ok = (ev + j >= 0) & (ev + j < n) & (seq[r] == seq[ev]) & ref[r]
            positive[o, r[ok]] = True
            used |= ok
        n_events.append(int(used.sum()))
    return positive, n_events


def _negative_weights(
    positive_full: NDArray[np.bool_],
    ref: NDArray[np.bool_],
    row_part: NDArray[np.int8],
    positive: NDArray[np.bool_],
    background: NDArray[np.bool_],
    part: NDArray[np.int8],
) -> tuple[NDArray[np.float64], list[dict[str, int]]]:
    weights = np.zeros((positive.shape[0], len(PART_NAMES)))
    per_split: list[dict[str, int]] = []
    for o in range(positive.shape[0]):
        info: dict[str, int] = {}
        for p, name in enumerate(PART_NAMES):
            in_p = ref & (row_part == p)
            pos = int((positive_full[o] & in_p).sum())
            sampled = int((background & ~positive[o] & (part == p)).sum())
            weights[o, p] = (int(in_p.sum()) - pos) / sampled if sampled else 0.0
            info[f"{name}_pos"], info[f"{name}_neg_sampled"] = pos, sampled
        per_split.append(info)
    return weights, per_split


def _check_counts(
    config: ProbeConfig, per_split: list[dict[str, int]], n_events: list[int]
) -> None:
    for o, d in enumerate(config.offsets):
        info = per_split[o]
        total = sum(info[f"{p}_pos"] for p in PART_NAMES)
        if n_events[o] < config.min_events:
            raise InputError(
                f"offset {d}: only {n_events[o]} {config.label!r} events have a token there inside "
                f"their sequence and the reference span (min_events is {config.min_events}); use "
                "offsets closer to 0, label more traces, or lower --min-events"
            )
        for p in (TRAIN, TEST, 1):
            name = PART_NAMES[p]
            if info[f"{name}_pos"] == 0 or info[f"{name}_neg_sampled"] == 0:
                raise InputError(
                    f"offset {d}: the {name} split has {info[f'{name}_pos']} positives and "
                    f"{info[f'{name}_neg_sampled']} sampled negatives ({total} positives overall); "
                    "label more traces or raise --max-negatives"
                )
