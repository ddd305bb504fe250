"""Oracles for the conversion tests: read a Hugging Face activation by its module path."""

from __future__ import annotations

import re
from typing import Any

import torch

from activation_store.models.hooks import HookSpec, hf_module_path

PATH_RE = re.compile(r"^(?P<module>\S+) \((?P<where>input|output)(\[(?P<index>\d+)\])?\)$")
PROMPTS = (
    "Wait, 17 × 25 = 425. Hmm, let me check that again — the café is open.",
    "But wait, the triangle has sides 5, 12 and 13, so the area is 30.",
)


def hf_activations(
    hf_model: Any, specs: list[HookSpec], architecture: str, input_ids: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Run ``hf_model`` once and capture each spec at its :func:`hf_module_path`."""
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for spec in specs:
        match = PATH_RE.match(hf_module_path(spec, architecture))
        assert match, hf_module_path(spec, architecture)
        module = hf_model.get_submodule(match["module"])
        index = match["index"]

        def grab(value: Any, name: str = spec.name, index: str | None = index) -> None:
            captured[name] = (value[int(index)] if index is not None else value).detach()

        if match["where"] == "input":
            handles.append(
                module.register_forward_pre_hook(
                    lambda m, args, kwargs, grab=grab: grab(
                        args[0] if args else kwargs["hidden_states"]
                    ),
                    with_kwargs=True,
                )
            )
        else:
            handles.append(module.register_forward_hook(lambda m, a, out, grab=grab: grab(out)))
    try:
        with torch.no_grad():
            hf_model(input_ids)
    finally:
        for handle in handles:
            handle.remove()
    return captured
