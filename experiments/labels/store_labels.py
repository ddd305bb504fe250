"""Writing token labels into an HDF5 activation store, matched to traces by id and token ids.

Every sequence of the store must be a trace of the traces file with exactly the same token ids
(the store was cached from those traces with ``backtrack cache --tokens traces.jsonl``); a
mismatch is an error naming the trace. All three labels are checked before any is written, so a
refused write leaves the store as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from activation_store.core.errors import StoreError
from activation_store.labels import write_label
from activation_store.reader import ActivationStore
from experiments.labels.categories import CATEGORY_IDS, NO_CATEGORY_ID, UNLABELLED_ID
from experiments.labels.result import TraceLabels
from experiments.labels.token_mapping import token_labels
from experiments.traces.record import Trace


@dataclass(frozen=True)
class StoreLabelResult:
    """What was written into the store."""

    names: tuple[str, ...]
    """Label names written (``backtracking_start…``, ``category…``, and ``thinking`` if new)."""
    n_sequences: int
    n_backtracking_starts: int


@dataclass(frozen=True)
class StorePlan:
    """A checked plan to label a store: its traces in store order and the label names to write."""

    path: Path
    traces: tuple[Trace, ...]
    """The trace of each store sequence, in store order."""
    offsets: np.ndarray
    names: tuple[str, ...]
    """``backtracking_start<suffix>``, ``category<suffix>``, and ``thinking`` unless already equal."""
    thinking: np.ndarray


def plan_store_labels(
    store_path: str | Path, traces: Sequence[Trace], *, suffix: str = "", overwrite: bool = False
) -> StorePlan:
    """Check, before any labelling, that the store's sequences are these traces and that the
    labels may be written; raises :class:`StoreError` naming the trace or label otherwise."""
    by_trace = {t.id: t for t in traces}
    with ActivationStore(store_path) as store:
        tokens = store.tokens
        present = set(store.labels)
        old_thinking = store.label("thinking") if "thinking" in present else None
    ordered = tuple(
        _matching_trace(by_trace, trace_id, tokens.sequence(s), store_path)
        for s, trace_id in enumerate(tokens.trace_ids)
    )
    thinking = np.concatenate([token_labels(t, ()).thinking for t in ordered])
    names = [f"backtracking_start{suffix}", f"category{suffix}"]
    if old_thinking is None or not np.array_equal(old_thinking, thinking):
        names.append("thinking")
    clashes = sorted(set(names) & present)
    if clashes and not overwrite:
        raise StoreError(
            f"labels {', '.join(clashes)} already exist in {str(store_path)!r}; pass "
            "--overwrite-labels to replace them, or --label-suffix to keep both"
        )
    return StorePlan(Path(store_path), ordered, tokens.offsets, tuple(names), thinking)


def write_store_labels(
    plan: StorePlan,
    labels: Sequence[TraceLabels],
    *,
    attrs: Mapping[str, Any],
    overwrite: bool = False,
) -> StoreLabelResult:
    """Write the planned labels: ``backtracking_start<suffix>``, ``category<suffix>``, ``thinking``.

    ``attrs`` (labeller name and config, traces file…) are stored on each label. ``thinking`` does
    not depend on the labeller: if present and equal it is left alone.
    """
    by_labels = {lab.trace_id: lab for lab in labels}
    n = int(plan.offsets[-1])
    starts, category = np.zeros(n, np.uint8), np.full(n, NO_CATEGORY_ID, np.int8)
    for s, trace in enumerate(plan.traces):
        if trace.id not in by_labels:
            raise StoreError(
                f"trace {trace.id!r} is in store {str(plan.path)!r} but has no labels; label "
                "the traces file the store was cached from"
            )
        lo, hi = int(plan.offsets[s]), int(plan.offsets[s + 1])
        tl = token_labels(trace, by_labels[trace.id].sentences)
        starts[lo:hi], category[lo:hi] = tl.backtracking_start, tl.category
    meanings = {
        plan.names[0]: "1 at the first token of each backtracking sentence",
        plan.names[1]: f"sentence category per token: {dict(CATEGORY_IDS)}, {NO_CATEGORY_ID} = "
        f"none/other, {UNLABELLED_ID} = unlabelled",
        "thinking": "1 for tokens inside the thinking span",
    }
    arrays = {plan.names[0]: starts, plan.names[1]: category, "thinking": plan.thinking}
    for name in plan.names:
        label_attrs = {**attrs, "meaning": meanings[name]}
        write_label(plan.path, name, arrays[name], attrs=label_attrs, overwrite=overwrite)
    return StoreLabelResult(plan.names, len(plan.traces), int(starts.sum()))


def _matching_trace(
    by_trace: Mapping[str, Trace], trace_id: str, stored: np.ndarray, store_path: str | Path
) -> Trace:
    trace = by_trace.get(trace_id)
    if trace is None:
        raise StoreError(
            f"store {str(store_path)!r} holds sequence {trace_id!r}, which is not in the traces "
            "file; label the traces the store was cached from"
        )
    if len(stored) != len(trace.token_ids) or not np.array_equal(stored, trace.token_ids):
        where = next(
            (i for i, (a, b) in enumerate(zip(stored, trace.token_ids, strict=False)) if a != b),
            min(len(stored), len(trace.token_ids)),
        )
        raise StoreError(
            f"trace {trace_id!r}: the store's token ids differ from the traces file at position "
            f"{where} ({len(stored)} vs {len(trace.token_ids)} tokens); the store was cached from "
            "other traces or another tokenizer"
        )
    return trace
