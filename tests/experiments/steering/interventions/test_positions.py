"""Position semantics on masks alone: left padding, windows, prompt vs generated, the tracker."""

from __future__ import annotations

import pytest
import torch

from activation_store.core.errors import InputError
from experiments.steering.interventions.positions import (
    PositionTracker,
    PositionWindow,
    call_positions,
    describe_positions,
    parse_positions,
)

MASK = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])


def test_parse_positions() -> None:
    assert parse_positions("all") == "all"
    assert parse_positions("generated") == "generated"
    assert parse_positions("3:7") == PositionWindow(3, 7)
    assert parse_positions("3:") == PositionWindow(3, None)
    assert "3..6" in describe_positions(PositionWindow(3, 7))
    for bad in ("everything", "7:3", "-1:4", "a:b"):
        with pytest.raises(InputError):
            parse_positions(bad)


def test_left_padded_prefill_token_indices() -> None:
    pos = call_positions(MASK, 5, prompt_width=5)
    assert pos.token_index_BT.tolist() == [[-1, -1, 0, 1, 2], [0, 1, 2, 3, 4]]
    assert pos.mask("all").tolist() == [[False, False, True, True, True], [True] * 5]
    assert not pos.mask("generated").any()
    assert pos.mask(PositionWindow(1, 3)).tolist() == [
        [False, False, False, True, True],
        [False, True, True, False, False],
    ]


def test_cached_decoding_step_is_generated() -> None:
    mask = torch.cat([MASK, torch.ones(2, 2, dtype=torch.long)], dim=1)  # 2 tokens generated
    pos = call_positions(mask, 1, prompt_width=5)
    assert pos.token_index_BT.tolist() == [[4], [6]]
    assert pos.mask("generated").all() and not pos.mask("prompt").any()
    assert pos.mask(PositionWindow(0, 5)).tolist() == [[True], [False]]


def test_pinned_prompt_lengths_are_per_row() -> None:
    pos = call_positions(MASK, 5, prompt_lengths=torch.tensor([2, 4]))
    assert pos.mask("generated").tolist() == [
        [False, False, False, False, True],
        [False, False, False, False, True],
    ]
    assert pos.mask("prompt").sum() == 3 + 4 - 1


def test_tracker_follows_cached_and_uncached_generation() -> None:
    tracker = PositionTracker()
    ids = torch.tensor([[5, 6, 7]])
    first = tracker.observe(1, 3, attention_mask=None, past=0, input_ids=ids)
    assert not first.generated_BT.any()
    step = tracker.observe(1, 1, attention_mask=None, past=3, input_ids=torch.tensor([[8]]))
    assert step.generated_BT.all() and step.token_index_BT.tolist() == [[3]]
    # Without a cache, the next call re-reads the whole sequence: it extends the last ids.
    tracker = PositionTracker()
    tracker.observe(1, 3, attention_mask=None, past=0, input_ids=ids)
    grown = tracker.observe(
        1, 4, attention_mask=None, past=0, input_ids=torch.tensor([[5, 6, 7, 8]])
    )
    assert grown.generated_BT.tolist() == [[False, False, False, True]]
    # A new prompt (not an extension) starts a new generation.
    fresh = tracker.observe(
        1, 4, attention_mask=None, past=0, input_ids=torch.tensor([[1, 2, 3, 4]])
    )
    assert not fresh.generated_BT.any()


def test_tracker_rejects_wrong_number_of_prompt_lengths() -> None:
    tracker = PositionTracker(prompt_lengths=[3])
    with pytest.raises(InputError, match="one prompt length per row"):
        tracker.observe(2, 3, attention_mask=None, past=0)
