"""Steering during cached, left-padded generation: positions are right at every decoding step."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from activation_store.models import LoadedModel
from experiments.steering import add_interventions, steer_hf
from experiments.steering.interventions.positions import PositionWindow

from ..conftest import encode, left_pad, make_direction

N_NEW = 6


def _generate(tiny: LoadedModel, rows: list[list[int]], **kwargs: Any) -> Any:
    ids, mask = left_pad(rows, tiny.tokenizer.pad_token_id, tiny.device)
    with torch.no_grad():
        return tiny.hf_model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=N_NEW,
            min_new_tokens=N_NEW,
            do_sample=False,
            return_dict_in_generate=True,
            output_scores=True,
            pad_token_id=tiny.tokenizer.pad_token_id,
            **kwargs,
        )


def _scores(out: Any) -> torch.Tensor:
    return torch.stack(out.scores, dim=1)  # [batch, step, vocab]


@pytest.mark.parametrize("positions", ["all", "prompt", "generated", PositionWindow(3, 12)])
def test_left_padded_batch_steers_each_row_like_alone(tiny: LoadedModel, positions: Any) -> None:
    rows = encode(tiny)
    interventions = add_interventions([make_direction()], [8.0], positions=positions)
    with steer_hf(tiny.hf_model, interventions) as handle:
        batched = _generate(tiny, rows)
        alone = [_generate(tiny, [row]) for row in rows]
    width = batched.sequences.shape[1] - N_NEW
    for i, single in enumerate(alone):
        assert batched.sequences[i, width:].tolist() == single.sequences[0, -N_NEW:].tolist()
        torch.testing.assert_close(_scores(batched)[i], _scores(single)[0], atol=1e-4, rtol=1e-4)
    changed = handle.record()[0]["positions_changed"]
    n_prompt = sum(len(r) for r in rows)
    expected = {
        "all": {"prompt": 2 * n_prompt, "generated": 2 * 3 * (N_NEW - 1)},
        "prompt": {"prompt": 2 * n_prompt, "generated": 0},
        "generated": {"prompt": 0, "generated": 2 * 3 * (N_NEW - 1)},
    }
    if isinstance(positions, str):
        assert changed == expected[positions]


@pytest.mark.parametrize("positions", ["all", "generated", PositionWindow(4, 9)])
def test_cached_and_uncached_generation_steer_alike(tiny: LoadedModel, positions: Any) -> None:
    rows = encode(tiny)
    interventions = add_interventions([make_direction()], [8.0], positions=positions)
    with steer_hf(tiny.hf_model, interventions):
        cached = _generate(tiny, rows, use_cache=True)
        uncached = _generate(tiny, rows, use_cache=False)
    assert torch.equal(cached.sequences, uncached.sequences)
    torch.testing.assert_close(_scores(cached), _scores(uncached), atol=1e-4, rtol=1e-4)


def test_generated_only_steering_leaves_the_prompt_untouched(tiny: LoadedModel) -> None:
    rows = encode(tiny)
    seen: list[torch.Tensor] = []
    layer = tiny.hf_model.model.layers[3]
    capture = layer.register_forward_hook(lambda m, a, out: seen.append(out.detach().clone()))
    try:
        plain = _generate(tiny, rows)
        prompt_plain = seen[0]
        seen.clear()
        interventions = add_interventions([make_direction()], [8.0], positions="generated")
        with steer_hf(tiny.hf_model, interventions):
            steered = _generate(tiny, rows)
        prompt_steered = seen[0]
    finally:
        capture.remove()
    assert torch.equal(prompt_plain, prompt_steered)  # prefill: bit-identical activations
    assert torch.equal(_scores(plain)[:, 0], _scores(steered)[:, 0])  # first token: from prompt
    assert not torch.allclose(_scores(plain)[:, 1:], _scores(steered)[:, 1:])  # then it steers


def test_alpha_zero_generation_is_bit_identical(tiny: LoadedModel) -> None:
    rows = encode(tiny)
    plain = _generate(tiny, rows)
    with steer_hf(tiny.hf_model, add_interventions([make_direction()], [0.0])):
        steered = _generate(tiny, rows)
    assert torch.equal(plain.sequences, steered.sequences)
    assert torch.equal(_scores(plain), _scores(steered))


def test_bfloat16_path_steers_and_alpha_zero_is_exact(device: str) -> None:
    from activation_store.models import ModelConfig, load_hf_model

    hf_model, tokenizer = load_hf_model(
        ModelConfig(model="tiny-llama", device=device, dtype="bfloat16")
    )
    ids = torch.tensor([tokenizer("Wait, let me check.")["input_ids"]], device=device)
    with torch.no_grad():
        plain = hf_model(ids).logits
        with steer_hf(hf_model, add_interventions([make_direction()], [0.0])):
            zero = hf_model(ids).logits
        with steer_hf(hf_model, add_interventions([make_direction()], [8.0])) as handle:
            steered = hf_model(ids).logits
    assert plain.dtype == torch.bfloat16 and torch.equal(plain, zero)
    assert (steered.float() - plain.float()).abs().max() > 0.1
    assert handle.record()[0]["positions_changed"]["prompt"] == ids.shape[1]
