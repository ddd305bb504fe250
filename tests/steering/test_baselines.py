"""Runtime baselines: norm-matched random and token directions."""

from __future__ import annotations

import pytest
import torch

from activation_store.models import LoadedModel
from experiments.steering.baselines import random_directions, token_directions

from .conftest import make_direction


def test_random_directions_are_norm_matched_and_seeded() -> None:
    dirs = [
        make_direction("a", 1, mean_resid_norm=2.0),
        make_direction("b", 2, mean_resid_norm=4.0),
    ]
    randoms = random_directions(dirs, 3, seed=7)
    assert [d.name for d in randoms] == ["random7_L1", "random8_L1", "random9_L1"]
    target = (dirs[0].norm + dirs[1].norm) / 2
    assert all(d.norm == pytest.approx(target, rel=1e-5) for d in randoms)
    assert all(d.mean_resid_norm == 3.0 and d.kind == "random" for d in randoms)
    assert torch.equal(randoms[0].vector, random_directions(dirs, 1, seed=7)[0].vector)


def test_token_directions_are_the_rows_and_tied_weights_give_one(
    tiny: LoadedModel, tiny_gpt: LoadedModel
) -> None:
    dirs = [make_direction("a", 1)]
    out = token_directions(tiny.hf_model, tiny.tokenizer, ["Wait"], dirs, model_id="tiny-llama")
    assert [d.kind for d in out] == ["embedding", "unembedding"]
    token = out[0].provenance["token_id"]
    row = tiny.hf_model.get_input_embeddings().weight[token].detach().cpu()
    cos = torch.nn.functional.cosine_similarity(out[0].vector, row, dim=0)
    assert cos == pytest.approx(1.0, abs=1e-5) and out[0].norm == pytest.approx(dirs[0].norm)
    tied = token_directions(
        tiny_gpt.hf_model, tiny_gpt.tokenizer, ["Wait"], dirs, model_id="tiny-gpt"
    )
    assert [d.kind for d in tied] == ["embedding"] and tied[0].provenance["also_unembedding"]
