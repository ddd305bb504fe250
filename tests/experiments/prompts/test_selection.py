"""Prompt selection: stratified by category and seeded, or the first N."""

from __future__ import annotations

from experiments.prompts import load_prompts
from experiments.prompts.selection import select_prompts


def test_stratified_selection_covers_every_category_evenly() -> None:
    pool = load_prompts("reasoning-v1", split="evaluation")
    first = select_prompts(pool, 24, how="first")
    assert sum(n > 0 for n in first.categories.values()) < 10  # file order: a few categories
    chosen = select_prompts(pool, 24, seed=3)
    assert len(chosen.problems) == 24 and len({p.id for p in chosen.problems}) == 24
    assert sorted(chosen.categories.values()) == [2] * 6 + [3] * 4  # ⌊24/10⌋ or ⌈24/10⌉ each
    assert chosen.how == "stratified (seed 3)"
    assert [p.id for p in select_prompts(pool, 24, seed=3).problems] == [
        p.id for p in chosen.problems
    ]
    assert [p.id for p in select_prompts(pool, 24, seed=4).problems] != [
        p.id for p in chosen.problems
    ]


def test_all_prompts_when_n_is_none_or_large() -> None:
    pool = load_prompts("reasoning-v1", split="evaluation")
    assert select_prompts(pool, None).how == "all"
    assert len(select_prompts(pool, 10_000).problems) == len(pool)
