"""Choosing N prompts from a set: stratified by category and seeded, or the first N.

Taking the first N prompts in file order covers the categories that happen to come first (the
held-out steering prompts of the organism study covered 4 of 10 categories); a stratified
selection takes ⌊N / C⌋ or ⌈N / C⌉ prompts from each of the C categories (the larger shares
going to the categories first in a seeded order), each category's prompts in a seeded order, and
records which categories it covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from experiments.prompts.problem import Problem

Selection = Literal["stratified", "first"]


@dataclass(frozen=True)
class Selected:
    """The chosen prompts and what they cover."""

    problems: list[Problem]
    categories: dict[str, int]
    """Category → prompts chosen from it (every category of the pool, 0 if none)."""
    how: str
    """``stratified (seed S)``, ``first N`` or ``all``."""


def select_prompts(
    problems: Sequence[Problem], n: int | None, *, how: Selection = "stratified", seed: int = 0
) -> Selected:
    """``n`` of ``problems`` (all when ``n`` is None or at least their number), chosen ``how``."""
    pool = list(problems)
    cats = list(dict.fromkeys(_category(p) for p in pool))
    if n is None or n >= len(pool):
        chosen, text = pool, "all"
    elif how == "first":
        chosen, text = pool[:n], f"first {n}"
    else:
        rng = np.random.default_rng(seed)
        by_cat = {c: [p for p in pool if _category(p) == c] for c in cats}
        for c in cats:
            by_cat[c] = [by_cat[c][i] for i in rng.permutation(len(by_cat[c]))]
        order = [cats[i] for i in rng.permutation(len(cats))]
        chosen = []
        while len(chosen) < n:  # round-robin over the categories, in the seeded order
            for c in order:
                if by_cat[c] and len(chosen) < n:
                    chosen.append(by_cat[c].pop(0))
        text = f"stratified (seed {seed})"
    counts = {c: sum(_category(p) == c for p in chosen) for c in cats}
    return Selected(chosen, counts, text)


def _category(problem: Problem) -> str:
    return problem.category or "(no category)"
