"""Data view: do the chosen features behave like backtracking precursors on the stored traces?

For each feature, over the reference tokens (the ``within`` span, e.g. thinking tokens, minus the
first ``skip_first_tokens`` of each sequence): its mean activation and firing rate in the
pre-backtracking window (``offsets`` before each ``event_label`` token) versus everywhere else, and
the AUROC of its activation as a score separating window tokens from the rest (0.5 = chance; below
0.5 = the feature is *less* active before backtracking). One streamed pass over the store encodes
only the chosen features (see :mod:`sae_analysis.subset`) and also yields the mean activation and
mean residual norm of the reference tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from numpy.typing import NDArray
from torch import Tensor

from activation_store.core.errors import StoreError
from activation_store.reader import ActivationStore
from sae_analysis.methods.contexts import Context, top_contexts
from sae_analysis.subset import FeatureEncoder

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class FeatureStats:
    """One feature's activation statistics on one store model."""

    index: int
    mean_window: float
    """Mean activation on pre-backtracking window tokens."""
    mean_elsewhere: float
    """Mean activation on the other reference tokens."""
    frac_active_window: float
    frac_active_elsewhere: float
    auroc: float | None
    """AUROC of the activation for window vs elsewhere (None if either set is empty)."""
    max_activation: float
    """Largest activation over the reference tokens."""


@dataclass(frozen=True, kw_only=True)
class DataView:
    """The chosen features' statistics on one model's stored activations."""

    model: str
    hook: str
    event_label: str
    offsets: tuple[int, ...]
    within: str | None
    """The label that restricted the reference tokens, or None (all tokens)."""
    n_events: int
    n_skipped_events: int
    """Events whose window left the sequence or the ``within`` span."""
    n_window_rows: int
    n_reference_rows: int
    features: tuple[FeatureStats, ...]
    contexts: dict[int, tuple[Context, ...]] = field(default_factory=dict)
    """Top-activating contexts per feature index (empty when not asked for)."""
    mean_activation: Float[Tensor, " d_in"] = field(
        repr=False, default_factory=lambda: torch.zeros(0)
    )
    """Mean activation over the reference tokens (float32 CPU)."""
    mean_norm: float = 0.0
    """Mean L2 norm of the activations over the reference tokens."""

    def stats(self, index: int) -> FeatureStats:
        return next(f for f in self.features if f.index == index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "hook": self.hook,
            "event_label": self.event_label,
            "offsets": list(self.offsets),
            "within": self.within,
            "n_events": self.n_events,
            "n_skipped_events": self.n_skipped_events,
            "n_window_rows": self.n_window_rows,
            "n_reference_rows": self.n_reference_rows,
            "mean_norm": self.mean_norm,
            "features": [asdict(f) for f in self.features],
        }


def reference_mask(
    store: ActivationStore, n_rows: int, within: str | None, skip_first_tokens: int
) -> tuple[NDArray[np.bool_], str | None]:
    """Reference rows (first ``n_rows``), and the ``within`` label actually used."""
    mask = store.tokens.positions[:n_rows] >= skip_first_tokens
    if within is not None and within not in store.labels:
        log.warning("store has no label %r: all tokens are reference tokens", within)
        within = None
    if within is not None:
        mask &= store.label(within)[:n_rows].astype(bool)
    if not mask.any():
        raise StoreError(
            f"no reference tokens in {str(store.path)!r}: label {within!r} marks none of the "
            f"{n_rows} cached tokens at positions ≥ {skip_first_tokens}; pass --within none"
        )
    return mask, within


@torch.no_grad()
def data_view(
    store: ActivationStore,
    model: str,
    hook: str,
    encoder: FeatureEncoder,
    *,
    event_label: str = "backtracking_start",
    offsets: Sequence[int] = (-12, -11, -10, -9, -8),
    within: str | None = "thinking",
    skip_first_tokens: int = 1,
    n_contexts: int = 0,
    context_before: int = 12,
    context_after: int = 4,
    batch_size: int = 4096,
) -> DataView:
    """Statistics of ``encoder``'s features on ``model``'s activations at ``hook``."""
    n_rows = store.committed_rows(model)
    ref, within = reference_mask(store, n_rows, within, skip_first_tokens)
    windows = store.event_windows(event_label, offsets, within=within)
    window = np.zeros(n_rows, dtype=bool)
    in_range = windows.rows[windows.rows < n_rows]
    window[in_range] = True
    window &= ref
    acts, mean, mean_norm = _encode_store(store, model, hook, encoder, ref, batch_size)
    stats = tuple(
        _stats(index, acts[:, j], window, ref & ~window) for j, index in enumerate(encoder.indices)
    )
    contexts: dict[int, tuple[Context, ...]] = {}
    if n_contexts:
        events = store.label(event_label)[:n_rows].astype(bool)
        for j, index in enumerate(encoder.indices):
            contexts[index] = top_contexts(
                store.tokens, acts[:, j], ref, n_contexts, context_before, context_after, events
            )
    return DataView(
        model=model,
        hook=hook,
        event_label=event_label,
        offsets=tuple(int(o) for o in offsets),
        within=within,
        n_events=windows.n_events,
        n_skipped_events=windows.n_skipped,
        n_window_rows=int(window.sum()),
        n_reference_rows=int(ref.sum()),
        features=stats,
        contexts=contexts,
        mean_activation=mean,
        mean_norm=mean_norm,
    )


def _encode_store(
    store: ActivationStore,
    model: str,
    hook: str,
    encoder: FeatureEncoder,
    ref: NDArray[np.bool_],
    batch_size: int,
) -> tuple[NDArray[np.float32], Tensor, float]:
    """Feature activations of every committed row, plus the reference rows' mean and mean norm."""
    n_rows = ref.shape[0]
    acts = np.zeros((n_rows, len(encoder.indices)), dtype=np.float32)
    total: Tensor | None = None
    norm_sum = 0.0
    for batch in store.iter_batches(model, [hook], batch_size=batch_size, shuffle=False):
        x = batch.acts[hook]
        acts[batch.rows] = encoder(x).cpu().numpy()
        keep = torch.from_numpy(ref[batch.rows])
        x_ref = x[keep].double()
        total = x_ref.sum(dim=0) if total is None else total + x_ref.sum(dim=0)
        norm_sum += float(x_ref.norm(dim=1).sum())
    n_ref = max(int(ref.sum()), 1)
    mean = (total / n_ref).float() if total is not None else torch.zeros(0)
    return acts, mean, norm_sum / n_ref


def _stats(
    index: int, a: NDArray[np.float32], window: NDArray[np.bool_], elsewhere: NDArray[np.bool_]
) -> FeatureStats:
    from sklearn.metrics import roc_auc_score

    a_win, a_else = a[window], a[elsewhere]
    auroc = None
    if a_win.size and a_else.size:
        labels = np.concatenate([np.ones(a_win.size), np.zeros(a_else.size)])
        auroc = float(roc_auc_score(labels, np.concatenate([a_win, a_else])))
    return FeatureStats(
        index=index,
        mean_window=_mean(a_win),
        mean_elsewhere=_mean(a_else),
        frac_active_window=_mean(a_win > 0),
        frac_active_elsewhere=_mean(a_else > 0),
        auroc=auroc,
        max_activation=float(max(a_win.max(initial=0.0), a_else.max(initial=0.0))),
    )


def _mean(x: NDArray[Any]) -> float:
    return float(x.mean(dtype=np.float64)) if x.size else 0.0
