"""The first two moments of a model's activations at one hook: mean and covariance.

What an ablation removes depends on them: zero-ablating a span removes its share of the second
moment (mean included), mean-ablating it its share of the variance. The study's ablation run
reads them from the activation store (the reasoner's activations on the derivation traces, over
the same reference tokens as the difference-of-means directions) to build random subspaces
matched on projected variance and to report each ablated span's share of the residual.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

from activation_store.core.errors import InputError
from activation_store.reader import ActivationStore
from probes.selection import resolve_reference
from probes.stream import _finite


@dataclass(frozen=True)
class ActivationMoments:
    """Mean and covariance (float64) of activations at one hook, and what they rest on."""

    mean: NDArray[np.float64]
    """[d_model] mean activation."""
    covariance: NDArray[np.float64]
    """[d_model, d_model] covariance (centred, divided by n − 1)."""
    n_tokens: int
    model: str
    hook: str
    reference: str
    """Which tokens: e.g. ``labels/thinking``."""


def activation_moments(
    store: ActivationStore,
    model: str,
    hook: str,
    *,
    within: str = "auto",
    batch_size: int = 4096,
) -> ActivationMoments:
    """One streamed pass over ``model``'s activations at ``hook`` (the reference tokens of
    ``within``: ``auto`` = the thinking tokens when labelled, as for the directions)."""
    if model not in store.models:
        raise InputError(f"the store has no model {model!r}; its models: {', '.join(store.models)}")
    if hook not in store.hooks(model):
        raise InputError(
            f"the store has no {hook} for {model!r}; cached hooks: {', '.join(store.hooks(model))}"
        )
    reference = resolve_reference(store, within)
    rows = np.flatnonzero(reference.mask)
    if len(rows) < 2:
        raise InputError(f"{reference.description} holds {len(rows)} tokens; need at least 2")
    d = store.d_model(model)
    total = torch.zeros(d, dtype=torch.float64)
    outer = torch.zeros(d, d, dtype=torch.float64)
    shift: torch.Tensor | None = None  # centre on the first batch's mean: stable in float64
    batches = store.iter_batches(model, [hook], rows=rows, batch_size=batch_size, shuffle=False)
    for batch in tqdm(
        batches, total=-(-len(rows) // batch_size), desc=f"{model} moments", leave=False
    ):
        x_BD = _finite(batch.acts[hook], model, hook, batch.rows).double()
        if shift is None:
            shift = x_BD.mean(dim=0)
        x_BD = x_BD - shift
        total += x_BD.sum(dim=0)
        outer += x_BD.T @ x_BD
    assert shift is not None
    n = len(rows)
    centred_mean = total / n
    covariance = (outer - n * torch.outer(centred_mean, centred_mean)) / (n - 1)
    return ActivationMoments(
        mean=(centred_mean + shift).numpy(),
        covariance=covariance.numpy(),
        n_tokens=n,
        model=model,
        hook=hook,
        reference=reference.description,
    )


def store_moments(path: str | Path, model: str, hook: str) -> ActivationMoments:
    """:func:`activation_moments` of the store at ``path``."""
    if not Path(path).exists():
        raise InputError(f"no activation store at {str(path)!r}; pass the store of backtrack cache")
    with ActivationStore(path) as store:
        return activation_moments(store, model, hook)
