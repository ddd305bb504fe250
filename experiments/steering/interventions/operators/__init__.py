"""Steering operators: what an intervention does to the residual stream at the positions it selects.

Each operator is one module behind the :class:`~experiments.steering.interventions.operators.base.Operator`
protocol: :class:`AddVectors` (add α·v), :class:`ProjectOut` (directional ablation onto the
orthogonal complement of a subspace) and :class:`AblateThenAdd` (both, in that order).
"""

from experiments.steering.interventions.operators.ablate import (
    ProjectOut,
    orthonormal_basis,
    random_subspace,
)
from experiments.steering.interventions.operators.ablate_then_add import AblateThenAdd
from experiments.steering.interventions.operators.add import AddVectors, SteeringTerm
from experiments.steering.interventions.operators.base import Operator

__all__ = [
    "AblateThenAdd",
    "AddVectors",
    "Operator",
    "ProjectOut",
    "SteeringTerm",
    "orthonormal_basis",
    "random_subspace",
]
