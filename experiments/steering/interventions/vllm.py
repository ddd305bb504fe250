"""Install interventions inside a vLLM model (in its worker processes, via ``LLM.apply_model``).

vLLM's Llama-like decoder layer returns ``(hidden_states, residual)`` and adds them in the next
layer's fused norm: the residual stream after block ``L`` (TransformerLens
``blocks.L.hook_resid_post``, HF ``model.layers.L`` output) is their sum. The hook installed here
replaces the pair by ``(op(hidden + residual), 0)``, so the next layer sees exactly the edited
stream — the same operator, α units and token selection as the Hugging Face path. Tokens arrive
flattened (``[n_tokens, d_model]``, prompts and decode steps of many requests together) with
their ``positions`` (index in their sequence), so:

* ``all`` and windows ``START:STOP`` are expressed exactly (windows from ``positions``);
* ``prompt`` and ``generated`` are refused: inside the model a token does not know its request's
  prompt length (:func:`check_vllm_interventions` says so in one line).

Only ``blocks.L.hook_resid_post`` hooks are supported. With tensor parallelism every rank runs the
hook on its replicated residual stream. The functions passed to ``apply_model`` live in this
importable module (vLLM pickles them; set ``VLLM_ALLOW_INSECURE_SERIALIZATION=1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from activation_store.core.errors import InputError
from experiments.steering.interventions.intervention import Intervention
from experiments.steering.interventions.positions import PositionWindow

_INSTALLED: list[Any] = []
"""Hook handles installed in this (worker) process."""
_CALLS: list[int] = [0]
"""Calls of the installed hooks since :func:`install` (a compiled graph that skips hooks shows 0)."""


def check_vllm_interventions(interventions: Sequence[Intervention], n_layers: int) -> None:
    """Refuse, in one line, what the vLLM engine cannot express."""
    for iv in interventions:
        spec = iv.spec
        if spec.kind != "resid_post" or spec.layer is None:
            raise InputError(
                f"the vLLM engine steers only at blocks.L.hook_resid_post, not {iv.hook}; "
                "use --engine hf for other hooks"
            )
        if not 0 <= spec.layer < n_layers:
            raise InputError(f"{iv.hook}: layer {spec.layer} out of range (model has {n_layers})")
        if iv.positions in ("prompt", "generated"):
            raise InputError(
                f"the vLLM engine cannot steer positions {iv.positions!r} (inside vLLM's model a "
                "token does not know its prompt's length); use positions all or START:STOP, or "
                "--engine hf"
            )


def check_vllm_positions(positions: Any, hooks: Sequence[str] = ()) -> None:
    """The same refusals for run settings, before anything is loaded or written."""
    from experiments.steering.interventions.positions import parse_positions

    if parse_positions(positions) in ("prompt", "generated"):
        raise InputError(
            f"the vLLM engine cannot steer positions {positions!r} (inside vLLM's model a token "
            "does not know its prompt's length); use positions all or START:STOP, or --engine hf"
        )
    for hook in hooks:
        if not hook.endswith(".hook_resid_post") or not hook.startswith("blocks."):
            raise InputError(
                f"the vLLM engine steers only at blocks.L.hook_resid_post, not {hook}; "
                "use --engine hf for other hooks"
            )


def install(model: Any, interventions: Sequence[Intervention]) -> int:
    """Worker side: add one forward hook per intervention to ``model.model.layers[L]``."""
    remove(model)
    _CALLS[0] = 0
    layers = _layers(model)
    for iv in interventions:
        assert iv.spec.layer is not None
        _INSTALLED.append(layers[iv.spec.layer].register_forward_hook(_hook(iv), with_kwargs=True))
    return len(_INSTALLED)


def calls(model: Any) -> int:
    """Worker side: how often the installed hooks ran since :func:`install`."""
    return _CALLS[0]


def remove(model: Any) -> int:
    """Worker side: remove every hook :func:`install` added."""
    n = len(_INSTALLED)
    while _INSTALLED:
        _INSTALLED.pop().remove()
    return n


def _layers(model: Any) -> Any:
    inner = getattr(model, "model", model)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise InputError(f"{type(model).__name__}: no decoder layers found to steer")
    return layers


def _hook(iv: Intervention) -> Any:
    def hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        _CALLS[0] += 1
        positions = kwargs.get("positions", args[0] if args else None)
        if isinstance(output, tuple):
            hidden, residual = output[0], output[1]
            resid_ND = hidden if residual is None else hidden + residual
        else:
            hidden, residual, resid_ND = output, None, output
        mask_N = _mask(iv, positions, resid_ND)
        edited_ND = iv.operator(resid_ND[None], mask_N[None])[0]
        if isinstance(output, tuple):
            return (edited_ND, torch.zeros_like(edited_ND), *output[2:])
        return edited_ND

    return hook


def _mask(iv: Intervention, positions: Any, resid_ND: torch.Tensor) -> torch.Tensor:
    n = resid_ND.shape[0]
    if iv.positions == "all":
        return torch.ones(n, dtype=torch.bool, device=resid_ND.device)
    if isinstance(iv.positions, PositionWindow) and positions is not None:
        pos_N = positions.reshape(-1)[:n] if positions.ndim == 1 else positions[-1].reshape(-1)[:n]
        inside = pos_N >= iv.positions.start
        if iv.positions.stop is not None:
            inside &= pos_N < iv.positions.stop
        return inside.to(resid_ND.device)
    raise InputError(f"positions {iv.positions!r} cannot be expressed in vLLM")


def positions_changed(positions: Any, prompt_len: int, n_generated: int) -> dict[str, int]:
    """Prompt and generated positions an intervention at ``positions`` changes in one generation
    (what the HF path counts: every prompt token, and every generated token fed back, i.e. all
    but the last)."""
    fed = max(0, n_generated - 1)
    if positions == "all":
        return {"prompt": prompt_len, "generated": fed}
    if isinstance(positions, PositionWindow):
        stop = positions.stop if positions.stop is not None else prompt_len + fed
        prompt = max(0, min(stop, prompt_len) - positions.start)
        generated = max(0, min(stop, prompt_len + fed) - max(positions.start, prompt_len))
        return {"prompt": prompt, "generated": generated}
    raise InputError(f"positions {positions!r} cannot be expressed in vLLM")
