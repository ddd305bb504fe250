"""The Hugging Face path and the TransformerLens path steer identically (same logits)."""

from __future__ import annotations

import pytest
import torch

from activation_store.models import LoadedModel
from experiments.steering import (
    ablate_interventions,
    ablate_then_add_interventions,
    add_interventions,
    steer_hf,
    steer_tl,
)
from experiments.steering.interventions.positions import PositionWindow

from ..conftest import encode, make_direction

HOOKS = (
    "hook_embed",
    "blocks.0.hook_resid_pre",
    "blocks.1.hook_resid_post",
    "blocks.2.hook_attn_out",
    "blocks.3.hook_mlp_out",
)


def _logits_both(tiny: LoadedModel, interventions: list, **kwargs: object) -> tuple:
    rows = encode(tiny)[:1] * 2
    ids = torch.tensor(rows, device=tiny.device)
    with torch.no_grad():
        plain = tiny.hf_model(ids).logits
        with steer_hf(tiny.hf_model, interventions, **kwargs) as h_hf:  # type: ignore[arg-type]
            hf = tiny.hf_model(ids).logits
        with steer_tl(tiny.model, interventions, **kwargs) as h_tl:  # type: ignore[arg-type]
            tl = tiny.model(ids)
    assert h_hf.record()[0]["positions_changed"] == h_tl.record()[0]["positions_changed"]
    return plain, hf, tl


@pytest.mark.parametrize("hook", HOOKS)
def test_add_same_logits_on_both_paths(tiny: LoadedModel, hook: str) -> None:
    interventions = add_interventions([make_direction()], [6.0], hooks=[hook])
    plain, hf, tl = _logits_both(tiny, interventions)
    assert (hf - plain).abs().max() > 0.1  # it steers
    torch.testing.assert_close(hf, tl, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "positions", ["prompt", "generated", PositionWindow(2, 6), PositionWindow(4, None)]
)
def test_positions_same_on_both_paths(tiny: LoadedModel, positions: object) -> None:
    interventions = add_interventions(
        [make_direction()],
        [6.0],
        positions=positions,  # type: ignore[arg-type]
    )
    plain, hf, tl = _logits_both(tiny, interventions, prompt_lengths=[5, 8])
    torch.testing.assert_close(hf, tl, atol=1e-4, rtol=1e-4)
    changed = (hf - plain).abs().amax(dim=-1) > 1e-5  # [batch, pos]: positions whose logits moved
    first = {"prompt": 0, "generated": 5, 2: 2, 4: 4}
    start = first[positions if isinstance(positions, str) else positions.start]  # type: ignore[union-attr]
    if positions == "generated":
        assert not changed[0, :5].any() and changed[0, 5:].all() and not changed[1, :8].any()
    else:
        assert not changed[:, :start].any() and changed[:, start].all()


def test_ablation_and_ablate_then_add_same_on_both_paths(tiny: LoadedModel) -> None:
    dirs = [make_direction(str(i), i) for i in range(3)]
    hooks = ["blocks.1.hook_resid_post", "blocks.2.hook_mlp_out"]
    for interventions in (
        ablate_interventions(dirs, hooks),
        ablate_then_add_interventions(dirs[:2], dirs[2:], [5.0], hooks),
    ):
        plain, hf, tl = _logits_both(tiny, interventions)
        assert (hf - plain).abs().max() > 1e-3
        torch.testing.assert_close(hf, tl, atol=1e-4, rtol=1e-4)


def test_alpha_zero_is_bit_identical_to_no_hook(tiny: LoadedModel) -> None:
    ids = torch.tensor(encode(tiny)[:1], device=tiny.device)
    interventions = add_interventions([make_direction()], [0.0], hooks=list(HOOKS[1:]))
    with torch.no_grad():
        plain = tiny.hf_model(ids).logits
        with steer_hf(tiny.hf_model, interventions):
            steered = tiny.hf_model(ids).logits
    assert torch.equal(plain, steered)


@pytest.mark.parametrize(
    "hook", ["blocks.1.hook_resid_post", "blocks.2.hook_attn_out", "blocks.0.hook_resid_pre"]
)
def test_gpt2_layout_same_logits_on_both_paths(
    tiny_gpt: LoadedModel, device: str, hook: str
) -> None:
    gpt = tiny_gpt
    ids = torch.tensor([gpt.tokenizer("Hmm, but wait.")["input_ids"]], device=device)
    interventions = add_interventions([make_direction()], [6.0], hooks=[hook])
    with torch.no_grad():
        plain = gpt.hf_model(ids).logits
        with steer_hf(gpt.hf_model, interventions):
            hf = gpt.hf_model(ids).logits
        with steer_tl(gpt.model, interventions):
            tl = gpt.model(ids)
    assert (hf - plain).abs().max() > 0.1
    torch.testing.assert_close(hf, tl, atol=1e-4, rtol=1e-4)
