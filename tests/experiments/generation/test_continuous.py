"""The continuous-batching engine gives today's engine's tokens for any batch composition."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import pytest

from activation_store.core.errors import InputError
from experiments.generation import GenerationConfig, generate, generate_continuous, stream
from experiments.generation.sampling import row_seeds

N = 12
SETTINGS = [
    {"max_new_tokens": N},
    {"max_new_tokens": N, "temperature": 1.0, "seed": 3},
    {"max_new_tokens": N, "temperature": 0.7, "top_p": 0.9, "seed": 5},
]


@pytest.fixture
def many(tiny, prompts) -> list[list[int]]:
    tok = tiny[1]
    extra = ["a b c d e f g", "Yes", "Let me think about 12 × 12 step by step.", "0 1 2"]
    return prompts + [tok(t)["input_ids"] for t in extra]


@contextlib.contextmanager
def stop_token(model: Any, token: int) -> Iterator[None]:
    """Make ``token`` an EOS of the model, so rows end at different lengths."""
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [token]
    try:
        yield
    finally:
        model.generation_config.eos_token_id = saved


def _common_token(model: Any, tok: Any, prompts: list[list[int]]) -> int:
    outs = generate(model, tok, prompts, GenerationConfig(max_new_tokens=N), progress=False)
    counts: dict[int, int] = {}
    for o in outs:
        for t in set(o.generated_ids[1:-1]):
            counts[t] = counts.get(t, 0) + 1
    return max(counts, key=lambda t: counts[t])


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_tokens_equal_todays_engine(tiny, many, settings, batch_size) -> None:
    model, tok = tiny
    reference = generate(
        model, tok, many, GenerationConfig(**settings, batch_size=4), progress=False
    )
    config = GenerationConfig(**settings, batch_size=batch_size)
    got = generate_continuous(model, tok, many, config, progress=False)
    assert [o.generated_ids for o in got] == [o.generated_ids for o in reference]
    assert [o.finish_reason for o in got] == [o.finish_reason for o in reference]
    assert [o.text for o in got] == [o.text for o in reference]


@pytest.mark.parametrize("settings", SETTINGS[:2])
def test_rows_leave_and_join_mid_batch_with_identical_tokens(tiny, many, settings) -> None:
    model, tok = tiny
    with stop_token(model, _common_token(model, tok, many)):
        reference = generate(
            model, tok, many, GenerationConfig(**settings, batch_size=8), progress=False
        )
        lengths = {len(o.generated_ids) for o in reference}
        assert len(lengths) > 2 and {o.finish_reason for o in reference} == {"eos", "length"}
        shapes: list[int] = []
        config = GenerationConfig(**settings, batch_size=3)
        seeds = [row_seeds(config.seed, [p])[0] for p in many]
        order = list(range(len(many)))
        random.Random(0).shuffle(order)  # any order of joining
        got: dict[int, Any] = {}
        for finished in stream(
            model,
            tok,
            [many[i] for i in order],
            config,
            seeds=[seeds[i] for i in order],
            on_forward=lambda rows, lens, shared: shapes.append(len(rows)),
            refill=0.3,
        ):
            for r, out in finished:
                got[order[r]] = out
    assert [got[i].generated_ids for i in range(len(many))] == [o.generated_ids for o in reference]
    assert max(shapes) == 3 and 1 in shapes  # rows joined a running batch one at a time


def test_batch_mates_do_not_matter(tiny, many) -> None:
    model, tok = tiny
    config = GenerationConfig(max_new_tokens=N, temperature=1.0, batch_size=4, seed=9)
    together = generate_continuous(model, tok, many, config, progress=False)
    alone = generate_continuous(model, tok, many[:1], config, progress=False)
    subset = generate_continuous(model, tok, many[::2], config, progress=False)
    assert together[0].generated_ids == alone[0].generated_ids
    assert [o.generated_ids for o in together[::2]] == [o.generated_ids for o in subset]


def test_every_forward_is_announced_with_rows_and_prompt_lengths(tiny, many) -> None:
    model, tok = tiny
    calls: list[tuple[list[int], list[int]]] = []
    list(
        stream(
            model,
            tok,
            many,
            GenerationConfig(max_new_tokens=3, batch_size=4),
            on_forward=lambda rows, lens, shared: calls.append((list(rows), list(lens))),
        )
    )
    assert calls[0] == ([0, 1, 2, 3], [len(p) for p in many[:4]])
    assert {r for rows, _ in calls for r in rows} == set(range(len(many)))
    assert all(lens == [len(many[r]) for r in rows] for rows, lens in calls)


def test_bad_input_is_one_line_error(tiny) -> None:
    model, tok = tiny
    with pytest.raises(InputError, match="prompt 0 is empty"):
        list(stream(model, tok, [[]], GenerationConfig(max_new_tokens=2)))
    with pytest.raises(InputError, match="got 1 seeds for 2 prompts"):
        list(stream(model, tok, [[1, 2], [3]], GenerationConfig(max_new_tokens=2), seeds=[1]))


@pytest.mark.parametrize("settings", SETTINGS[:2])
def test_shared_prompt_prefix_gives_identical_tokens(tiny, settings) -> None:
    model, tok = tiny
    system = "System: you are a careful assistant; check every step. User: "
    texts = ["What is 3 + 4?", "Is 17 prime?", "Hmm", "Name a colour, then wait.", "2 × 21"]
    prompts = [tok(system + t)["input_ids"] for t in texts]
    reference = generate(model, tok, prompts, GenerationConfig(**settings, batch_size=5))
    calls: list[Any] = []
    config = GenerationConfig(**settings, batch_size=2)
    got = generate_continuous(
        model,
        tok,
        prompts,
        config,
        on_forward=lambda rows, lens, shared: calls.append((list(rows), shared)),
        progress=False,
    )
    assert [o.generated_ids for o in got] == [o.generated_ids for o in reference]
    prefix_calls = [c for c in calls if c[1] is not None]
    assert len(prefix_calls) == 1 and sorted(prefix_calls[0][1][0]) == list(range(5))
    plain = generate_continuous(model, tok, prompts, config, share_prefix=False, progress=False)
    assert [o.generated_ids for o in plain] == [o.generated_ids for o in reference]
