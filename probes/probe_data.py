"""The rows a probe run reads, their labels per offset, split and evaluation weights.

Labels do not depend on the model, so this is built once per store. For offset ``d`` and window
width ``k`` a reference token is *positive* when its offset from some backtracking start of its own
sequence lies in ``[d-k+1, d]``. Every positive is used; negatives are a seeded uniform sample of
at most ``max_negatives`` reference tokens shared by all offsets (a sampled token that is a
positive at offset ``d`` counts as a positive there). With ``negatives="matched"`` each
offset draws its own negatives from the layout slots of its positives (:mod:`probes.layout`) in
the positives' own split, so that a probe cannot win by knowing where in the template it is, in
training or in evaluation; ``negatives="position"`` does the same without the line opener.
Neither draws a negative from a line that runs into a backtrack (:func:`negative_candidates`). The
rows read from the store are the union of all positives and negatives — a small subset of a
large store.

Class imbalance: training is class-balanced (each class carries half the loss). With uniform
negatives, evaluation weights each sampled negative of a split by (negatives in the split's
population) / (negatives sampled from it), so average precision and accuracy refer to the true
prevalence; matched and position negatives weigh 1 (the metrics refer to the matched
population). AUROC is unaffected by a uniform negative weight.
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
from probes.layout import Layout, store_layout
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
    negative: NDArray[np.bool_]
    """[n_offsets, n_rows] in offset ``o``'s negative sample (the same row for every offset with
    uniform negatives)."""
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
        """Rows of offset ``o``'s problem (its positives and its negatives) in ``part``."""
        return (self.positive[o] | self.negative[o]) & (self.part == part)

    def eval_weights(self, o: int, part: int) -> NDArray[np.float64]:
        """Weights of ``member(o, part)`` rows: 1 per positive, the population weight per negative."""
        sel = self.member(o, part)
        return np.where(self.positive[o][sel], 1.0, self.neg_weight[o, part])


def build_probe_data(
    store: ActivationStore, config: ProbeConfig, layout: Layout | None = None
) -> ProbeData:
    """Select rows and labels for every offset of ``config``; refuse offsets with too few events.

    Matched negatives use ``layout`` (of every store token), read with the first model's
    tokenizer when not given.
    """
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
    if config.negatives != "uniform":
        if layout is None:
            layout = store_layout(store, store.models[0])
        if len(layout.position) != len(seq):
            raise InputError(
                f"the layout covers {len(layout.position)} tokens, the store {len(seq)}; build it "
                "with probes.layout.store_layout(store, model) of this store"
            )
        candidates = negative_candidates(seq, events, positive_full, reference.mask, layout)
        neg_rows, levels = _matched_negatives(
            positive_full, candidates, row_part, layout, config, rng
        )
    else:
        sample = rng.choice(ref_rows, size=min(config.max_negatives, len(ref_rows)), replace=False)
        neg_rows, levels = [np.sort(sample)] * len(config.offsets), None
    all_neg = np.unique(np.concatenate(neg_rows))
    rows = np.union1d(np.flatnonzero(positive_full.any(axis=0)), all_neg)
    positive = positive_full[:, rows]
    negative = np.stack([np.isin(rows, r) & ~positive[o] for o, r in enumerate(neg_rows)])
    part = row_part[rows]
    neg_weight, per_split = _negative_weights(
        positive_full, reference.mask, row_part, positive, negative, part
    )
    if config.negatives != "uniform":
        neg_weight[:] = 1.0  # the matched population, not the whole reference set
    _check_counts(config, per_split, n_events)
    counts = {
        "n_events": int(events.sum()),
        "n_reference_tokens": reference.n_rows,
        "negatives": config.negatives,
        "n_background": len(all_neg),
        "n_rows_read": len(rows),
        "groups": split.counts(),
        "per_offset": {
            str(d): {
                "events": n_events[o],
                **per_split[o],
                **({} if levels is None else {"match_levels": levels[o]}),
            }
            for o, d in enumerate(config.offsets)
        },
    }
    return ProbeData(
        rows=rows,
        offsets=config.offsets,
        positive=positive,
        negative=negative,
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


def negative_candidates(
    seq: NDArray[np.integer],
    events: NDArray[np.bool_],
    positive: NDArray[np.bool_],
    reference: NDArray[np.bool_],
    layout: Layout,
) -> NDArray[np.bool_]:
    """[n_tokens] the reference tokens a matched or position negative may be drawn from: positive
    at no offset, and not in a line that runs into a backtrack.

    A token whose own line ends just before a backtracking start — or holds one later on — is
    that backtrack's precursor at a distance the probe offsets do not reach (a line may be longer
    than the offsets): a concept that persists over the line reads as high there as at the
    positives, so as a negative it would be counted against exactly the precursor the probes
    look for. Where a positive's slot has no other candidate, its negative comes from a coarser
    slot, and without this rule those slots' candidates were largely such lines (README
    "Positive and null controls"). Tokens after a backtracking start in its own line are not
    excluded: they follow it.
    """
    n = len(seq)
    index = np.arange(n)
    ev = np.flatnonzero(events)
    if not len(ev):
        return reference & ~positive.any(axis=0)
    after = np.searchsorted(ev, index, side="right")  # the first event after each token
    has = after < len(ev)
    at = np.where(has, ev[np.minimum(after, len(ev) - 1)], n)
    same_seq = has & (seq[np.minimum(at, n - 1)] == seq)
    runs_in = same_seq & (at - index <= layout.until_line + 1)
    return reference & ~positive.any(axis=0) & ~runs_in


def _negative_weights(
    positive_full: NDArray[np.bool_],
    ref: NDArray[np.bool_],
    row_part: NDArray[np.int8],
    positive: NDArray[np.bool_],
    negative: NDArray[np.bool_],
    part: NDArray[np.int8],
) -> tuple[NDArray[np.float64], list[dict[str, int]]]:
    weights = np.zeros((positive.shape[0], len(PART_NAMES)))
    per_split: list[dict[str, int]] = []
    for o in range(positive.shape[0]):
        info: dict[str, int] = {}
        for p, name in enumerate(PART_NAMES):
            in_p = ref & (row_part == p)
            pos = int((positive_full[o] & in_p).sum())
            sampled = int((negative[o] & (part == p)).sum())
            weights[o, p] = (int(in_p.sum()) - pos) / sampled if sampled else 0.0
            info[f"{name}_pos"], info[f"{name}_neg_sampled"] = pos, sampled
        per_split.append(info)
    return weights, per_split


MATCH_LEVELS = ("opener+line end+line start", "opener+line end", "opener", "any")
"""What a matched negative shares with its positives, finest first (see :meth:`Layout.key`)."""
POSITION_LEVELS = ("line end+line start", "line end", "any")
"""The same for position negatives (``negatives="position"``: the line opener left out)."""


def _matched_negatives(
    positive_full: NDArray[np.bool_],
    candidates: NDArray[np.bool_],
    row_part: NDArray[np.int8],
    layout: Layout,
    config: ProbeConfig,
    rng: np.random.Generator,
) -> tuple[list[NDArray[np.int64]], list[dict[str, int]]]:
    """Per offset, negatives drawn slot by slot to match the positives' layout, split by split.

    Each offset's budget is ``max(n_pos, max_negatives // n_offsets)``, shared out over its
    positives (one each, the rest at random); each positive's share is drawn without replacement
    from the ``candidates`` (:func:`negative_candidates`) of its finest layout slot (opener, distance to the
    line's end and from its start; the opener left out with ``negatives="position"``) in its own
    split (``row_part``), so every split's negatives match that split's positives and a split
    with positives gets negatives wherever it has any candidate.
    Only where a slot cannot give even one negative per positive does the shortfall move on to the
    next coarser slot, so matching stays as exact as the data allow. Returns the rows per offset
    and how many negatives were matched at each level.
    """
    opener = config.negatives == "matched"
    names = MATCH_LEVELS if opener else POSITION_LEVELS
    n_parts = len(PART_NAMES)
    keys = [layout.key(level, opener=opener) * n_parts + row_part for level in range(len(names))]
    out, levels = [], []
    for o in range(positive_full.shape[0]):
        pos = np.flatnonzero(positive_full[o])
        counts = dict.fromkeys(names, 0)
        levels.append(counts)
        if not len(pos):  # refused with its reason by _check_counts
            out.append(np.zeros(0, dtype=np.int64))
            continue
        target = max(len(pos), config.max_negatives // positive_full.shape[0])
        # one negative per positive, the rest of the budget shared out at random
        want = 1 + rng.multinomial(target - len(pos), np.full(len(pos), 1 / len(pos)))
        free = candidates.copy()
        chosen: list[NDArray[np.int64]] = []
        for level, key in enumerate(keys):
            size = int(key.max()) + 1
            need = np.bincount(key[pos], weights=want, minlength=size).astype(np.int64)
            got = np.zeros(size, dtype=np.int64)
            pool = np.flatnonzero(free)
            pool = pool[np.argsort(key[pool], kind="stable")]
            bounds = np.searchsorted(key[pool], np.arange(size + 1))
            for k in np.flatnonzero(need):
                members = pool[bounds[k] : bounds[k + 1]]
                got[k] = min(int(need[k]), len(members))
                if got[k]:
                    picked = rng.choice(members, size=int(got[k]), replace=False)
                    chosen.append(picked)
                    free[picked] = False
            counts[names[level]] = int(got.sum())
            # the next, coarser level only makes up one negative per positive a slot fell short of
            asking = want > 0
            short = np.maximum(np.bincount(key[pos[asking]], minlength=size) - got, 0)
            rank = _rank_within(key[pos], asking)
            want = (asking & (rank < short[key[pos]])).astype(np.int64)
            if not want.any():
                break
        out.append(np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64))
    return out, levels


def _rank_within(key: NDArray[np.int64], mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """For each element, how many earlier elements with ``mask`` share its key (its rank)."""
    rank = np.zeros(len(key), dtype=np.int64)
    seen: dict[int, int] = {}
    for i in np.flatnonzero(mask):
        k = int(key[i])
        rank[i] = seen.get(k, 0)
        seen[k] = rank[i] + 1
    return rank


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
