"""Validate interventions against a model: hook names, layers, widths."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from activation_store.errors import InputError
from activation_store.models.hooks import HookSpec, parse_hook
from experiments.steering.intervention import Intervention

STEERABLE_KINDS = ("embed", "resid_pre", "resid_post", "attn_out", "mlp_out")
"""Hook kinds an intervention can change. ``resid_mid`` is not one: on a Hugging Face model the
residual inside a block is a local variable (add to ``attn_out`` of the same block instead)."""


def expand_hooks(hooks: Iterable[str], n_layers: int) -> list[str]:
    """Expand ``blocks.*.hook_X`` to every layer; other names pass through (in order, deduplicated)."""
    out: list[str] = []
    for hook in hooks:
        names = (
            [hook.replace("*", str(layer)) for layer in range(n_layers)]
            if re.fullmatch(r"blocks\.\*\.hook_\w+", hook)
            else [hook]
        )
        out.extend(n for n in names if n not in out)
    return out


def check_interventions(
    interventions: Sequence[Intervention],
    *,
    n_layers: int,
    d_model: int,
    has_pos_embed: bool = False,
) -> list[HookSpec]:
    """Parse each intervention's hook for this model and check its width; one-line errors."""
    specs: list[HookSpec] = []
    for iv in interventions:
        spec = parse_hook(iv.hook, n_layers, has_pos_embed=has_pos_embed)
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
