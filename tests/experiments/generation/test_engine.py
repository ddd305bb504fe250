"""The generation engine against a no-cache greedy oracle, and its stopping, ordering and hooks."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from activation_store.core.errors import InputError
from experiments.generation import GenerationConfig, GenerationConfigError, generate
from tests.experiments.generation.helpers import greedy_oracle, scripted

N = 12


def test_greedy_matches_no_cache_oracle_batched_and_in_prompt_order(tiny, prompts) -> None:
    model, tok = tiny
    outs = generate(
        model, tok, prompts, GenerationConfig(max_new_tokens=N, batch_size=3), progress=False
    )
    assert [o.prompt_ids for o in outs] == prompts  # prompt order, though batches are length-sorted
    for prompt, out in zip(prompts, outs, strict=True):
        assert out.generated_ids == greedy_oracle(model, prompt, N)
        assert out.finish_reason == "length"
        assert out.text == tok.decode(out.generated_ids, skip_special_tokens=False)


def test_checkpoint_generation_defaults_do_not_leak_and_are_restored(tiny, prompts) -> None:
    model, tok = tiny
    saved = model.generation_config
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.6
    model.generation_config.repetition_penalty = 3.0
    try:
        out = generate(model, tok, prompts[:1], GenerationConfig(max_new_tokens=N), progress=False)
        assert out[0].generated_ids == greedy_oracle(model, prompts[0], N)
        assert model.generation_config is saved
    finally:
        model.generation_config.do_sample = False
        model.generation_config.temperature = None
        model.generation_config.repetition_penalty = None


@pytest.mark.parametrize(("stop", "reason"), [("eos", "eos"), ("think", "think_end")])
def test_rows_stop_at_eos_or_think_end_and_keep_the_stop_token(tiny, prompts, stop, reason) -> None:
    model, tok = tiny
    stop_id = tok.eos_token_id if stop == "eos" else tok.convert_tokens_to_ids("</think>")
    word = tok.encode(" Wait", add_special_tokens=False)
    scripts = [word * 2 + [stop_id], word * 5]  # row 0 stops after 3 tokens, row 1 runs on
    with scripted(model, scripts):
        outs = generate(
            model,
            tok,
            prompts[:2],
            GenerationConfig(max_new_tokens=N, batch_size=2),
            progress=False,
        )
    by_len = sorted(outs, key=lambda o: len(o.prompt_ids), reverse=True)  # batch row order
    assert by_len[0].generated_ids == scripts[0]
    assert by_len[0].finish_reason == reason
    assert by_len[1].finish_reason == "length" and len(by_len[1].generated_ids) == N


def test_think_end_is_ignored_when_disabled(tiny, prompts) -> None:
    model, tok = tiny
    script = [tok.convert_tokens_to_ids("</think>")] * 3
    with scripted(model, [script]):
        out = generate(
            model,
            tok,
            prompts[:1],
            GenerationConfig(max_new_tokens=5, stop_at_think_end=False),
            progress=False,
        )[0]
    assert out.finish_reason == "length" and out.generated_ids[:3] == script


def test_multi_token_think_end_stops_the_row(tiny, prompts) -> None:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from activation_store.models.tiny import _tokenizer_json

    model, _ = tiny
    plain = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json()),
        eos_token="<|end_of_text|>",
        pad_token="<|pad|>",
    )
    pieces = plain.encode("</think>", add_special_tokens=False)
    assert len(pieces) > 1
    with scripted(model, [pieces + pieces]):
        out = generate(
            model, plain, prompts[:1], GenerationConfig(max_new_tokens=N), progress=False
        )[0]
    assert out.finish_reason == "think_end"
    assert out.generated_ids == pieces and out.text == "</think>"


def test_caller_hooks_see_prompt_then_one_position_and_are_kept(tiny, prompts) -> None:
    model, tok = tiny
    shapes: list[tuple[int, ...]] = []
    handle = model.model.layers[1].register_forward_hook(
        lambda m, a, out: shapes.append(tuple(out.shape))
    )
    try:
        generate(
            model, tok, prompts, GenerationConfig(max_new_tokens=4, batch_size=4), progress=False
        )
        width = max(len(p) for p in prompts)
        assert shapes[0] == (4, width, 64)
        assert shapes[1:] == [(4, 1, 64)] * 3
        assert len(model.model.layers[1]._forward_hooks) == 1  # the engine left the hook alone
    finally:
        handle.remove()


def test_sampling_is_seeded_per_prompt_and_independent_of_batching(tiny, prompts) -> None:
    model, tok = tiny
    cfg = GenerationConfig(max_new_tokens=N, temperature=1.0, batch_size=4, seed=3)
    together = generate(model, tok, prompts, cfg, progress=False)
    alone = [generate(model, tok, [p], cfg, progress=False)[0] for p in reversed(prompts)][::-1]
    assert [o.generated_ids for o in together] == [o.generated_ids for o in alone]
    other_seed = generate(
        model,
        tok,
        prompts,
        GenerationConfig(max_new_tokens=N, temperature=1.0, seed=4),
        progress=False,
    )
    assert [o.generated_ids for o in other_seed] != [o.generated_ids for o in together]
    greedy = generate(model, tok, prompts, GenerationConfig(max_new_tokens=N), progress=False)
    assert [o.generated_ids for o in together] != [o.generated_ids for o in greedy]


def test_tiny_top_p_or_temperature_is_greedy(tiny, prompts) -> None:
    model, tok = tiny
    greedy = generate(model, tok, prompts, GenerationConfig(max_new_tokens=N), progress=False)
    for cfg in (
        GenerationConfig(max_new_tokens=N, temperature=1.0, top_p=1e-6),
        GenerationConfig(max_new_tokens=N, temperature=1e-4),
    ):
        sampled = generate(model, tok, prompts, cfg, progress=False)
        assert [o.generated_ids for o in sampled] == [o.generated_ids for o in greedy]


def test_identical_prompts_get_different_samples(tiny, prompts) -> None:
    model, tok = tiny
    outs = generate(
        model,
        tok,
        [prompts[0]] * 2,
        GenerationConfig(max_new_tokens=N, temperature=1.0),
        progress=False,
    )
    assert outs[0].generated_ids != outs[1].generated_ids


@pytest.mark.parametrize(
    ("bad", "match"),
    [([[]], "prompt 0 is empty"), ([[1, 2], [10_000]], "prompt 1 has token id 10000 outside")],
)
def test_bad_prompts_are_one_line_errors(tiny, bad: Any, match: str) -> None:
    model, tok = tiny
    with pytest.raises(InputError, match=match):
        generate(model, tok, bad, GenerationConfig(max_new_tokens=2), progress=False)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_new_tokens": 0},
        {"temperature": -1.0},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"batch_size": 0},
        {"seed": -1},
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(GenerationConfigError, match=next(iter(kwargs))):
        GenerationConfig(**kwargs)


def test_progress_bar_counts_generated_tokens(tiny, prompts) -> None:
    import io

    from tqdm import tqdm

    model, tok = tiny
    bar = tqdm(file=io.StringIO())
    outs = generate(model, tok, prompts, GenerationConfig(max_new_tokens=5, batch_size=2), bar=bar)
    assert bar.n == sum(len(o.generated_ids) for o in outs) == 20
    assert torch.is_grad_enabled()
