"""Validate interventions against a model: hook kinds, layers, widths (hooks are parsed once, when
an :class:`~experiments.steering.interventions.intervention.Intervention` is made)."""

from __future__ import annotations

from collections.abc import Sequence

from activation_store.core.errors import InputError
from activation_store.models.hooks import HookSpec, check_hook
from experiments.steering.interventions.intervention import Intervention

STEERABLE_KINDS = ("embed", "resid_pre", "resid_post", "attn_out", "mlp_out")
"""Hook kinds an intervention can change. ``resid_mid`` is not one: on a Hugging Face model the
residual inside a block is a local variable (add to ``attn_out`` of the same block instead)."""


def check_interventions(
    interventions: Sequence[Intervention],
    *,
    n_layers: int,
    d_model: int,
    has_pos_embed: bool = False,
) -> list[HookSpec]:
    """Check each intervention's hook against this model and its width; one-line errors."""
    specs: list[HookSpec] = []
    for iv in interventions:
        spec = check_hook(iv.spec, n_layers, has_pos_embed=has_pos_embed)
        if spec.kind not in STEERABLE_KINDS:
            raise InputError(
                f"hook {iv.hook!r} cannot be steered; use one of "
                f"{', '.join(STEERABLE_KINDS)} (for resid_mid, steer attn_out of the same block)"
            )
        if iv.operator.d_model != d_model:
            what = iv.describe()
            raise InputError(
                f"intervention at {iv.hook} ({_names(what)}) has d_model {iv.operator.d_model} "
                f"but the model's residual stream has {d_model}; use directions of this model"
            )
        specs.append(spec)
    return specs


def _names(description: dict[str, object]) -> str:
    terms = description.get("terms")
    if isinstance(terms, list):
        return ", ".join(str(t["direction"]) for t in terms if isinstance(t, dict))
    return str(description.get("kind", "operator"))
