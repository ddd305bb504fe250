"""Which store rows are events, windows and reference tokens, with the one-line errors for bad input.

Shared by the difference-of-means directions and the probes, so that both count events, skip
windows that leave a sequence or the thinking span, and describe their reference set the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from activation_store.core.errors import InputError, StoreError
from activation_store.events import EventWindows, event_windows
from activation_store.models.hooks import hook_name, hook_order
from activation_store.reader import ActivationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reference:
    """The reference tokens: those a window must lie in and a reference mean averages over."""

    mask: NDArray[np.bool_]
    """[n_tokens] True for reference rows."""
    description: str
    """E.g. ``labels/thinking`` or ``all tokens (the store has no labels/thinking)``."""
    label: str | None
    """The label that defines it, or None for every token."""

    @property
    def n_rows(self) -> int:
        return int(self.mask.sum())


def resolve_reference(store: ActivationStore, within: str) -> Reference:
    """``within``: ``auto`` (labels/thinking if present, else every token), ``none``, or a label."""
    n = store.n_tokens
    if within == "none" or (within == "auto" and "thinking" not in store.labels):
        if within == "auto":
            log.warning("store has no labels/thinking: the reference set is every token")
            desc = "all tokens (the store has no labels/thinking)"
        else:
            desc = "all tokens"
        return Reference(mask=np.ones(n, dtype=bool), description=desc, label=None)
    name = "thinking" if within == "auto" else within
    values = np.asarray(store.label(name))
    if not np.isfinite(values).all():
        raise InputError(f"label {name!r} has NaN/inf entries; rewrite it with finite values")
    mask = values != 0
    if not mask.any():
        raise InputError(f"label {name!r} marks no token; check the labeller or pass --within none")
    return Reference(mask=mask, description=f"labels/{name}", label=name)


def event_mask(store: ActivationStore, label: str) -> NDArray[np.bool_]:
    """[n_tokens] True at each labelled event; refuses NaNs and an empty label."""
    values = np.asarray(store.label(label))
    if not np.isfinite(values).all():
        raise InputError(f"label {label!r} has NaN/inf entries; rewrite it with finite values")
    events = values != 0
    if not events.any():
        raise InputError(
            f"label {label!r} has no labelled events in {str(store.path)!r}; "
            "label traces that contain backtracking first"
        )
    return events


def windows(
    store: ActivationStore,
    events: NDArray[np.bool_],
    offsets: Sequence[int],
    reference: Reference,
    *,
    label: str,
    min_events: int,
) -> EventWindows:
    """Event windows at ``offsets`` that lie inside their sequence and the reference span.

    Raises naming the offsets when every window is skipped, and naming ``min_events`` when fewer
    events remain.
    """
    mask = None if reference.label is None else reference.mask
    win = event_windows(store.tokens.seq_index, events, offsets, within=mask)
    span = f"offsets {_offsets_text(offsets)}"
    where = "its sequence" + ("" if mask is None else f" and {reference.description}")
    if win.n_events == 0:
        raise InputError(
            f"no {label!r} event has {span} inside {where} (all {win.n_skipped} skipped); "
            "use offsets closer to 0"
        )
    if win.n_events < min_events:
        raise InputError(
            f"only {win.n_events} usable {label!r} events at {span} ({win.n_skipped} skipped: "
            f"window outside {where}) but min_events is {min_events}; label more traces or lower "
            "--min-events"
        )
    return win


def row_weights(n_tokens: int, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    """[n_tokens] how often each row occurs in ``rows`` (window tokens count once per event)."""
    return np.bincount(rows.ravel(), minlength=n_tokens).astype(np.float64)


def check_complete(store: ActivationStore, model: str, hooks: Sequence[str]) -> None:
    """Refuse a model whose caching is unfinished or that lacks a hook, before any pass."""
    cached = store.hooks(model)
    missing = [h for h in hooks if h not in cached]
    if missing:
        raise StoreError(
            f"hook {missing[0]!r} is not cached for model {model!r}; cached hooks: {', '.join(cached)}"
        )
    done = store.committed_rows(model)
    if done != store.n_tokens:
        raise StoreError(
            f"model {model!r} has only {done:,}/{store.n_tokens:,} rows cached; finish it with "
            "`backtrack cache --resume` first"
        )


def _offsets_text(offsets: Sequence[int]) -> str:
    offs = list(offsets)
    if len(offs) > 2 and offs == list(range(offs[0], offs[-1] + 1)):
        return f"{offs[0]}..{offs[-1]}"
    return ",".join(str(o) for o in offs)


def resolve_models(store: ActivationStore, models: Sequence[str]) -> list[str]:
    """The requested store model keys (default: every model), each checked to exist."""
    present = store.models
    if not present:
        raise StoreError(f"{str(store.path)!r} holds no activations; run `backtrack cache` first")
    for m in models:
        if m not in present:
            raise StoreError(
                f"model {m!r} is not in {str(store.path)!r}; models present: {', '.join(present)}"
            )
    return list(models) or present


def resolve_hooks(store: ActivationStore, model: str, wanted: Sequence[str]) -> list[str]:
    """Hook names from ``all``, layer indices (→ ``blocks.L.hook_resid_post``) or hook names."""
    cached = store.hooks(model)
    if not wanted or list(wanted) == ["all"]:
        return sorted(cached, key=hook_order)
    hooks = [hook_name("resid_post", int(w)) if w.strip().isdigit() else w.strip() for w in wanted]
    check_complete(store, model, hooks)
    return hooks
