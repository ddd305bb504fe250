"""Hooks always come off, only ours come off, and bad input fails before anything is installed."""

from __future__ import annotations

import pytest
import torch

from activation_store.core.errors import InputError
from activation_store.models import LoadedModel
from activation_store.models.hooks import expand_hooks
from experiments.steering import add_interventions, steer_hf, steer_tl
from experiments.steering.interventions.from_directions import ablate_interventions

from ..conftest import make_direction


def _n_hooks(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def test_hooks_removed_on_exception_and_remove_is_idempotent(tiny: LoadedModel) -> None:
    hf = tiny.hf_model
    before, before_tl = _n_hooks(hf), _n_hooks(tiny.model)
    interventions = add_interventions([make_direction()], [3.0])
    with pytest.raises(RuntimeError, match="boom"), steer_hf(hf, interventions):
        assert _n_hooks(hf) == before + 2
        raise RuntimeError("boom")
    assert _n_hooks(hf) == before
    handle = steer_tl(tiny.model, interventions)
    assert handle.active and _n_hooks(tiny.model) == before_tl + 1
    handle.remove()
    handle.remove()
    assert not handle.active and _n_hooks(tiny.model) == before_tl


def test_user_hooks_survive(tiny: LoadedModel) -> None:
    layer = tiny.hf_model.model.layers[0]
    mine = layer.register_forward_hook(lambda *a: None)
    try:
        with steer_hf(tiny.hf_model, add_interventions([make_direction()], [3.0])):
            pass
        assert len(layer._forward_hooks) == 1
    finally:
        mine.remove()


def test_bad_input_is_refused_before_installing(tiny: LoadedModel) -> None:
    before = _n_hooks(tiny.hf_model)
    wrong_width = make_direction("dir_32", d_model=32)
    with pytest.raises(
        InputError, match=r"dir_32.*has d_model 32 but the model's residual stream has 64"
    ):
        steer_hf(tiny.hf_model, add_interventions([wrong_width], [1.0]))
    with pytest.raises(InputError, match="different d_model"):
        add_interventions([make_direction(), wrong_width], [1.0, 1.0])
    with pytest.raises(InputError, match="out of range"):
        steer_hf(
            tiny.hf_model,
            add_interventions([make_direction(hook="blocks.9.hook_resid_post")], [1.0]),
        )
    with pytest.raises(InputError, match="cannot be steered"):
        steer_tl(tiny.model, ablate_interventions([make_direction()], ["blocks.1.hook_resid_mid"]))
    with pytest.raises(InputError, match="one α per direction"):
        add_interventions([make_direction()], [1.0, 2.0])
    assert _n_hooks(tiny.hf_model) == before


def test_expand_hooks() -> None:
    assert expand_hooks(["hook_embed", "blocks.*.hook_mlp_out", "blocks.1.hook_mlp_out"], 3) == [
        "hook_embed",
        "blocks.0.hook_mlp_out",
        "blocks.1.hook_mlp_out",
        "blocks.2.hook_mlp_out",
    ]
