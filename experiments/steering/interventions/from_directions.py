"""Turn :class:`~activation_store.direction.Direction` objects into interventions.

Steering strength α is stated in one of three units (:data:`AlphaUnit`, see
:mod:`experiments.steering.interventions.units`): ``unit``, ``mean_resid_norm`` or ``raw``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from activation_store.core.errors import InputError
from activation_store.direction import Direction, check_same_space
from activation_store.models.hooks import HookSpec
from experiments.steering.interventions.intervention import Intervention
from experiments.steering.interventions.operators import (
    AblateThenAdd,
    AddVectors,
    ProjectOut,
    SteeringTerm,
    orthonormal_basis,
)
from experiments.steering.interventions.positions import Positions
from experiments.steering.interventions.units import AlphaUnit

logger = logging.getLogger(__name__)

__all__ = [
    "AlphaUnit",
    "ablate_interventions",
    "ablate_then_add_interventions",
    "ablation_operator",
    "add_interventions",
    "steering_term",
]


def steering_term(direction: Direction, alpha: float, unit: AlphaUnit = "unit") -> SteeringTerm:
    """``direction`` scaled so that α is measured in ``unit`` (see the module docstring)."""
    if unit == "raw":
        return SteeringTerm(
            name=direction.name, vector=direction.vector, coefficient=alpha, alpha=alpha, unit=unit
        )
    if unit == "unit":
        coefficient = alpha
    elif unit == "mean_resid_norm":
        if direction.mean_resid_norm is None:
            raise InputError(
                f"direction {direction.name!r} has no mean_resid_norm, so α cannot be stated in "
                "mean residual norms; use alpha_unit='unit' or re-derive it with the norm recorded"
            )
        coefficient = alpha * float(direction.mean_resid_norm)
    else:
        raise InputError(f"alpha unit {unit!r} unknown; use unit, mean_resid_norm or raw")
    return SteeringTerm(
        name=direction.name,
        vector=direction.unit,
        coefficient=coefficient,
        alpha=alpha,
        unit=unit,
    )


def add_interventions(
    directions: Sequence[Direction],
    alphas: Sequence[float],
    *,
    unit: AlphaUnit = "unit",
    hooks: Sequence[str | HookSpec] | None = None,
    positions: Positions = "all",
) -> list[Intervention]:
    """Add ``alphas[i] × directions[i]`` together: at each direction's own hook, or at ``hooks``
    (names or parsed :class:`HookSpec` objects)."""
    if len(directions) != len(alphas):
        raise InputError(
            f"{len(directions)} directions but {len(alphas)} alphas; give one α per direction"
        )
    if not directions:
        raise InputError("no directions to steer with; pass at least one")
    check_same_space(directions)
    terms = [steering_term(d, a, unit) for d, a in zip(directions, alphas, strict=True)]
    by_hook: dict[str, tuple[str | HookSpec, list[SteeringTerm]]] = {}
    for direction, term in zip(directions, terms, strict=True):
        for hook in hooks or (direction.hook,):
            name = hook.name if isinstance(hook, HookSpec) else hook
            by_hook.setdefault(name, (hook, []))[1].append(term)
    return [
        Intervention(hook=hook, operator=AddVectors(hook_terms), positions=positions)
        for hook, hook_terms in by_hook.values()
    ]


def ablation_operator(
    directions: Sequence[Direction], *, mean: Direction | None = None
) -> ProjectOut:
    """Projection onto the orthogonal complement of the span of ``directions`` (in their order);
    with ``mean`` (a mean-activation direction), mean-ablation instead of zero-ablation."""
    if not directions:
        raise InputError("no directions to ablate; pass at least one")
    check_same_space([*directions, *([mean] if mean is not None else [])])
    names = [d.name for d in directions]
    vectors_KD = torch.stack([d.vector for d in directions])
    basis = orthonormal_basis(vectors_KD, names)
    return ProjectOut(basis, names, mean=None if mean is None else mean.vector)


def ablate_interventions(
    directions: Sequence[Direction] | ProjectOut,
    hooks: Sequence[str | HookSpec],
    *,
    positions: Positions = "all",
    mean: Direction | None = None,
) -> list[Intervention]:
    """Project the span of ``directions`` (or a prepared :class:`ProjectOut`) out at every hook;
    with ``mean``, replace it by the mean activation's component (mean-ablation).

    To keep a direction out of the residual stream altogether, ablate it at ``hook_embed`` and at
    every ``attn_out`` and ``mlp_out`` (``blocks.*.hook_attn_out``, ``blocks.*.hook_mlp_out``).
    Positions ``1:`` leave the first token (the attention sink) alone.
    """
    if not hooks:
        raise InputError("no hooks to ablate at; pass at least one, e.g. blocks.10.hook_resid_post")
    if isinstance(directions, ProjectOut):
        operator = directions
    else:
        operator = ablation_operator(directions, mean=mean)
    return [Intervention(hook=h, operator=operator, positions=positions) for h in hooks]


def ablate_then_add_interventions(
    ablate: Sequence[Direction],
    add: Sequence[Direction],
    alphas: Sequence[float],
    hooks: Sequence[str | HookSpec],
    *,
    unit: AlphaUnit = "unit",
    positions: Positions = "all",
) -> list[Intervention]:
    """At each hook, remove the span of ``ablate`` and then add ``alphas[i] × add[i]``."""
    if len(add) != len(alphas):
        raise InputError(f"{len(add)} directions to add but {len(alphas)} alphas")
    if not hooks:
        raise InputError("no hooks to intervene at; pass at least one")
    operator = AblateThenAdd(
        ablation_operator(ablate),
        AddVectors([steering_term(d, a, unit) for d, a in zip(add, alphas, strict=True)]),
    )
    return [Intervention(hook=h, operator=operator, positions=positions) for h in hooks]
