"""An intervention: an operator applied at one hook, at chosen token positions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from activation_store.models.hooks import HookSpec, parse_hook
from experiments.steering.interventions.operators.base import Operator
from experiments.steering.interventions.positions import (
    Positions,
    describe_positions,
    parse_positions,
)


@dataclass(frozen=True, kw_only=True, eq=False)
class Intervention:
    """``operator`` applied to the activation at TransformerLens hook ``hook`` at ``positions``.

    The hook name is the public address on both paths: on a Hugging Face model it maps to a module
    (``blocks.L.hook_resid_post`` → output of ``model.layers.L``), on a ``HookedTransformer`` to
    its hook point.
    """

    hook: str | HookSpec
    """TransformerLens hook name, e.g. ``blocks.10.hook_resid_post`` (or its parsed
    :class:`HookSpec`); stored as the name, with the parsed form in :attr:`spec`."""
    operator: Operator
    """What happens to the activation (add, ablate, ablate-then-add)."""
    positions: Positions = "all"
    """Which tokens change: ``all``, ``prompt``, ``generated`` or a :class:`PositionWindow`."""

    spec: HookSpec = field(init=False, repr=False)
    """The parsed hook (form checked here; layer range checked when installed on a model)."""

    def __post_init__(self) -> None:
        spec = self.hook if isinstance(self.hook, HookSpec) else parse_hook(self.hook)
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "hook", spec.name)
        object.__setattr__(self, "positions", parse_positions(self.positions))

    def describe(self) -> dict[str, Any]:
        """JSON-ready: hook, positions (and their meaning) and the operator."""
        return {
            "hook": self.hook,
            "positions": str(self.positions),
            "positions_meaning": describe_positions(self.positions),
            **self.operator.describe(),
        }
