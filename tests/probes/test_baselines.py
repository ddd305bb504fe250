"""The one maker of baseline directions: names, norm matching, tied weights, unknown words."""

from __future__ import annotations

import logging

import pytest
import torch

from activation_store.direction import Direction
from activation_store.models.tiny import tiny_gpt_hf, tiny_llama_hf, tiny_tokenizer
from probes.baselines import mean_baseline, random_baselines, references, token_baselines
from probes.token_space import TokenSpace

HOOK = "blocks.1.hook_resid_post"


def _direction(name: str, seed: int, kind: str = "diff_of_means", **kw: object) -> Direction:
    vector = torch.randn(64, generator=torch.Generator().manual_seed(seed))
    return Direction(name=name, vector=vector, model="base", hook=HOOK, kind=kind, **kw)  # type: ignore[arg-type]


def test_reference_is_the_mean_over_candidates_at_the_hook() -> None:
    a = _direction("a", 1, mean_resid_norm=2.0)
    b = _direction("b", 2, mean_resid_norm=4.0)
    noise = _direction("r", 3, kind="random", mean_resid_norm=100.0)
    (ref,) = references([a, noise, b])
    assert ref.norm == pytest.approx((a.norm + b.norm) / 2)
    assert ref.mean_resid_norm == 3.0 and ref.model == "base" and ref.hook == HOOK
    (only,) = references([noise])  # a hook with baselines only is matched to them
    assert only.norm == pytest.approx(noise.norm)


def test_random_baselines_are_named_seeded_and_norm_matched() -> None:
    (ref,) = references([_direction("base_L1_dom", 1, mean_resid_norm=3.0)])
    randoms = random_baselines(ref, [7, 8, 9], suffix="-w2")
    assert [d.name for d in randoms] == [
        "base_L1_random7-w2",
        "base_L1_random8-w2",
        "base_L1_random9-w2",
    ]
    assert all(d.norm == pytest.approx(ref.norm, rel=1e-6) for d in randoms)
    assert all(d.kind == "random" and d.mean_resid_norm == 3.0 for d in randoms)
    assert randoms[0].provenance["seed"] == 7
    assert torch.equal(randoms[0].vector, random_baselines(ref, [7])[0].vector)
    cos = torch.nn.functional.cosine_similarity(randoms[0].vector, randoms[1].vector, dim=0)
    assert abs(float(cos)) < 0.5  # different seeds, different directions


def test_token_baselines_are_the_rows_norm_matched() -> None:
    hf = tiny_llama_hf()
    space = TokenSpace.from_hf(hf, tiny_tokenizer(), model_id="tiny-llama")
    (ref,) = references([_direction("base_L1_dom", 1)])
    out = token_baselines(space, ref, ["Wait", " Wait"])
    assert [d.name for d in out] == [
        "base_L1_embed-Wait",
        "base_L1_unembed-Wait",
        "base_L1_embed-_Wait",
        "base_L1_unembed-_Wait",
    ]
    token = out[0].provenance["token_id"]
    rows = (hf.get_input_embeddings().weight[token], hf.get_output_embeddings().weight[token])
    for d, row in zip(out[:2], rows, strict=True):
        cos = torch.nn.functional.cosine_similarity(d.vector, row.detach(), dim=0)
        assert float(cos) == pytest.approx(1.0, abs=1e-6)
        assert d.norm == pytest.approx(ref.norm, rel=1e-6)
    assert [d.kind for d in out[:2]] == ["embedding", "unembedding"]
    assert len(token_baselines(space, ref, ["Wait"], kinds=("unembed",))) == 1


def test_tied_weights_give_one_baseline() -> None:
    hf = tiny_gpt_hf()
    tokenizer = tiny_tokenizer()
    space = TokenSpace.from_hf(hf, tokenizer, model_id="tiny-gpt")
    vector = torch.randn(space.d_model, generator=torch.Generator().manual_seed(0))
    ref_dir = Direction(name="d", vector=vector, model="base", hook=HOOK, kind="diff_of_means")
    (ref,) = references([ref_dir])
    tied = token_baselines(space, ref, ["Wait"])
    assert [d.name for d in tied] == ["base_L1_embed-Wait"]
    assert tied[0].provenance["also_unembedding"] is True


def _word_level_space() -> TokenSpace:
    """A tokenizer that knows only "Wait" and "<unk>": every other word becomes <unk>."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"<unk>": 0, "Wait": 1}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    g = torch.Generator().manual_seed(0)
    return TokenSpace(
        model_id="word-level",
        W_E=torch.randn(2, 64, generator=g),
        W_U=torch.randn(64, 2, generator=g),
        norm_kind="rms",
        norm_weight=torch.ones(64),
        tokenizer=tokenizer,
    )


def test_an_unknown_word_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    space = _word_level_space()
    (ref,) = references([_direction("base_L1_dom", 1)])
    assert space.is_unknown(space.token_id("Hmm")[0])
    with caplog.at_level(logging.WARNING, logger="probes.baselines"):
        out = token_baselines(space, ref, ["Hmm", "Wait"])
    assert [d.name for d in out] == ["base_L1_embed-Wait", "base_L1_unembed-Wait"]
    assert "'Hmm'" in caplog.text and "does not know" in caplog.text
    assert all(d.provenance["token"] != "<unk>" for d in out)


def test_the_mean_baseline_keeps_its_own_norm() -> None:
    mean = mean_baseline(torch.full((64,), 2.0), model="base", hook=HOOK, mean_resid_norm=5.0)
    assert mean.name == "base_L1_mean" and mean.kind == "mean_activation"
    assert mean.norm == pytest.approx(16.0)
