"""Ablation set-up that needs the ablated model's activations: variance-matched random subspaces
and each ablated span's share of the residual (see :mod:`experiments.steering.runs.subspaces`).

Both rest on the mean and covariance of the model's activations at the directions' hook, read
from ``config.store`` (:func:`probes.moments.store_moments`). With ``hooks`` ablating at other or
more layers (``blocks.*.hook_resid_post``), matching and shares still refer to the directions'
hook: the one whose activations the store holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from activation_store.core.errors import InputError
from activation_store.direction import Direction
from experiments.steering.interventions.operators import orthonormal_basis, random_subspace
from experiments.steering.runs.config import AblationConfig
from experiments.steering.runs.plan import Condition, matched_names
from experiments.steering.runs.subspaces import VarianceMatcher, projected_variance, residual_share
from probes.moments import store_moments

logger = logging.getLogger(__name__)


def matched_and_shares(
    config: AblationConfig, directions: Sequence[Direction], plan: Sequence[Condition]
) -> tuple[list[Direction], dict[str, Any]]:
    """The basis directions of every variance-matched subspace in ``plan``, and
    ``{"moments": what they rest on, "groups": group → residual share}`` for every ablated group."""
    candidates = [d for d in directions if d.name != config.mean_direction]
    hook = candidates[0].hook
    model = config.store_model or config.labels[0]
    moments = store_moments(config.store, model, hook)
    d_model = int(candidates[0].vector.numel())
    if moments.mean.shape[0] != d_model:
        raise InputError(
            f"store {config.store!r} holds {model!r} at d_model {moments.mean.shape[0]}, the "
            f"directions have {d_model}; point store at the ablated model's activations"
        )
    by_name = {d.name: d for d in candidates}
    matcher: VarianceMatcher | None = None
    made: list[Direction] = []
    bases: dict[str, torch.Tensor] = {}
    targets: dict[int, float] = {}
    for c in plan:
        if c.operation == "none" or c.group in bases:
            continue
        if c.random_k and c.random_kind == "isotropic":
            bases[c.group] = random_subspace(d_model, c.random_k, int(c.random_seed or 0))
        elif c.random_k:
            k = c.random_k
            if k not in targets:
                span = orthonormal_basis(torch.stack([d.vector for d in candidates[:k]]))
                targets[k] = projected_variance(span, moments.covariance)
            matcher = matcher or VarianceMatcher(moments.covariance)
            basis, variance, draws = matcher.draw(
                k, targets[k], int(c.random_seed or 0), tolerance=config.variance_tolerance
            )
            bases[c.group] = basis
            info = {
                "made_by": "ablation",
                "subspace": c.group,
                "k": k,
                "seed": c.random_seed,
                "target_variance": targets[k],
                "projected_variance": variance,
                "tilt": matcher.tilt(k, targets[k]),
                "draws": draws,
                "store": config.store,
            }
            made += [
                Direction(
                    name=name,
                    vector=basis[i].clone(),
                    model=candidates[0].model,
                    hook=hook,
                    kind="random_subspace",
                    mean_resid_norm=candidates[0].mean_resid_norm,
                    provenance={**info, "index": i},
                )
                for i, name in enumerate(matched_names(k, int(c.random_seed or 0)))
            ]
        else:
            vectors = torch.stack([by_name[n].vector for n in c.directions])
            bases[c.group] = orthonormal_basis(vectors, list(c.directions))
    groups = {g: residual_share(b, moments.mean, moments.covariance) for g, b in bases.items()}
    if made:
        logger.info(
            "variance-matched subspaces: %d, targets %s",
            len(made) // max(1, len(targets)),
            {k: round(v, 4) for k, v in targets.items()},
        )
    info = {
        "store": config.store,
        "model": model,
        "hook": hook,
        "n_tokens": moments.n_tokens,
        "reference": moments.reference,
        "total_variance": float(moments.covariance.trace()),
        "mean_norm": float((moments.mean**2).sum() ** 0.5),
        "target_variance": {str(k): v for k, v in targets.items()},
    }
    return made, {"moments": info, "groups": groups}
