"""One streamed pass over a store: weighted sums (for means) and gathering selected rows (for probes).

Both read through :meth:`ActivationStore.iter_batches`, so every hook of a model is read in one
pass and memory stays bounded by the store's read buffer plus the outputs, never the whole store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float
from numpy.typing import NDArray
from tqdm.auto import tqdm

from activation_store.core.errors import StoreError
from activation_store.reader import ActivationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightedSums:
    """Σ_r w_k[r]·x[r] and Σ_r w_k[r]·‖x[r]‖ at one hook, for each named weighting k."""

    sums: dict[str, NDArray[np.float64]]
    """[d_model] weighted sum of activations per weighting."""
    norm_sums: dict[str, float]
    """Weighted sum of activation L2 norms per weighting."""
    totals: dict[str, float]
    """Σ_r w_k[r] per weighting."""

    def mean(self, name: str) -> NDArray[np.float64]:
        return self.sums[name] / self.totals[name]

    def mean_norm(self, name: str) -> float:
        return self.norm_sums[name] / self.totals[name]


def weighted_sums(
    store: ActivationStore,
    model: str,
    hooks: Sequence[str],
    weights: Mapping[str, Float[np.ndarray, " n_tokens"]],
    *,
    batch_size: int = 4096,
) -> dict[str, WeightedSums]:
    """Weighted sums of activations of ``hooks`` for every weighting, in one pass over the rows any
    weighting touches (accumulated in float64). A weighting must have a positive total."""
    names = list(weights)
    w_KN = np.stack([np.asarray(weights[k], dtype=np.float64) for k in names])
    totals = w_KN.sum(axis=1)
    for name, total in zip(names, totals, strict=True):
        if total <= 0:
            raise StoreError(f"weighting {name!r} selects no rows; nothing to average")
    rows = np.flatnonzero((w_KN != 0).any(axis=0))
    sums = {h: torch.zeros(len(names), store.d_model(model), dtype=torch.float64) for h in hooks}
    norm_sums = {h: torch.zeros(len(names), dtype=torch.float64) for h in hooks}
    batches = store.iter_batches(model, hooks, rows=rows, batch_size=batch_size, shuffle=False)
    for batch in tqdm(
        batches, total=-(-len(rows) // batch_size), desc=f"{model} means", leave=False
    ):
        w_KB = torch.from_numpy(w_KN[:, batch.rows])
        for hook, acts in batch.acts.items():
            x_BD = _finite(acts, model, hook, batch.rows).double()
            sums[hook] += w_KB @ x_BD
            norm_sums[hook] += w_KB @ x_BD.norm(dim=1)
    return {
        h: WeightedSums(
            sums={k: sums[h][i].numpy() for i, k in enumerate(names)},
            norm_sums={k: float(norm_sums[h][i]) for i, k in enumerate(names)},
            totals={k: float(t) for k, t in zip(names, totals, strict=True)},
        )
        for h in hooks
    }


def gather_rows(
    store: ActivationStore,
    model: str,
    hooks: Sequence[str],
    rows: NDArray[np.int64],
    *,
    batch_size: int = 4096,
    dtype: np.dtype | None = None,
) -> dict[str, NDArray[np.floating]]:
    """Activations of sorted unique ``rows`` at every hook, from one pass: ``{hook: [n_rows, d]}``.

    ``dtype`` defaults to the store's dtype (float16 stores stay float16: exact and half the memory).
    """
    if np.any(np.diff(rows) <= 0):
        raise ValueError("gather_rows needs sorted unique rows")
    dtype = np.dtype(dtype or str(store.model_attrs(model).get("store_dtype", "float32")))
    d = store.d_model(model)
    out = {h: np.empty((len(rows), d), dtype=dtype) for h in hooks}
    batches = store.iter_batches(model, hooks, rows=rows, batch_size=batch_size, shuffle=False)
    for batch in tqdm(
        batches, total=-(-len(rows) // batch_size), desc=f"{model} rows", leave=False
    ):
        at = np.searchsorted(rows, batch.rows)
        for hook, acts in batch.acts.items():
            out[hook][at] = _finite(acts, model, hook, batch.rows).numpy()
    return out


def _finite(acts: torch.Tensor, model: str, hook: str, rows: NDArray[np.int64]) -> torch.Tensor:
    ok = torch.isfinite(acts).all(dim=1)
    if not bool(ok.all()):
        bad = int(rows[int((~ok).nonzero()[0, 0])])
        raise StoreError(
            f"model {model!r} hook {hook!r} has NaN/inf activations at row {bad}; recache that "
            "model (e.g. with --dtype float32 or --store-dtype float32)"
        )
    return acts
