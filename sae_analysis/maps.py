"""A 2-d UMAP map of decoder rows (umap-learn), for placing the direction's features among the rest.

Rows are compared by cosine. Large dictionaries are subsampled (seeded) and the reported features
are always included. With a fixed seed umap-learn runs single-threaded and is deterministic.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float
from numpy.typing import NDArray
from torch import Tensor

from sae_analysis.dictionary import decoder_rows

log = logging.getLogger(__name__)

MIN_POINTS = 4
"""Fewer decoder rows than this cannot be mapped."""


@dataclass(frozen=True, kw_only=True)
class DecoderMap:
    """2-d coordinates of a set of decoder rows."""

    indices: NDArray[np.int64]
    """Feature index of each point."""
    xy: NDArray[np.float32]
    """[n, 2] UMAP coordinates."""
    cosines: NDArray[np.float32]
    """Cosine of each point's decoder row with the direction (the colour)."""
    labelled: tuple[int, ...]
    """Features to label on the map."""


def decoder_map(
    W_dec: Float[Tensor, "d_sae d_in"],
    cosines: Float[Tensor, " d_sae"],
    labelled: Sequence[int],
    *,
    sample: int = 4000,
    n_neighbors: int = 15,
    seed: int = 0,
) -> DecoderMap | None:
    """UMAP of (a sample of) decoder rows plus ``labelled``; None if there are too few rows."""
    d_sae = int(W_dec.shape[0])
    labelled = [int(i) for i in labelled]
    if d_sae > sample:
        rng = np.random.default_rng(seed)
        rest = np.setdiff1d(np.arange(d_sae), labelled)
        n_rest = max(sample - len(labelled), 0)
        chosen = np.concatenate(
            [labelled, rng.choice(rest, size=min(n_rest, rest.size), replace=False)]
        )
        indices = np.unique(chosen.astype(np.int64))
    else:
        indices = np.arange(d_sae, dtype=np.int64)
    if indices.size < MIN_POINTS:
        log.warning("only %d decoder rows: no UMAP map", indices.size)
        return None
    rows = decoder_rows(W_dec, torch.from_numpy(indices)).numpy()
    xy = _umap(rows, min(n_neighbors, indices.size - 1), seed)
    return DecoderMap(
        indices=indices,
        xy=xy,
        cosines=cosines[torch.from_numpy(indices)].numpy().astype(np.float32),
        labelled=tuple(labelled),
    )


def _umap(rows: NDArray[np.float32], n_neighbors: int, seed: int) -> NDArray[np.float32]:
    import umap

    log.info("UMAP of %d decoder rows (n_neighbors %d, seed %d)", rows.shape[0], n_neighbors, seed)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # "n_jobs overridden by random_state": wanted, for determinism
        reducer = umap.UMAP(
            n_neighbors=max(n_neighbors, 2),
            metric="cosine",
            random_state=seed,
            init="spectral" if rows.shape[0] > n_neighbors + 1 else "random",
        )
        xy = reducer.fit_transform(rows)
    return np.asarray(xy, dtype=np.float32)
