"""The six sentence categories of Venhoff et al. (2025) and their integer ids in the store."""

from __future__ import annotations

from collections.abc import Mapping

CATEGORIES: tuple[str, ...] = (
    "initializing",
    "deduction",
    "adding-knowledge",
    "example-testing",
    "uncertainty-estimation",
    "backtracking",
)
"""Sentence categories, as the LLM judge is asked for them."""

CATEGORY_MEANINGS: Mapping[str, str] = {
    "initializing": "restating the problem, or planning how to approach it",
    "deduction": "deriving a new fact or doing a calculation step from what is known",
    "adding-knowledge": "recalling a fact, definition or rule that the problem did not state",
    "example-testing": "trying a concrete case, or checking a candidate against the conditions",
    "uncertainty-estimation": "stating doubt or confidence about the reasoning so far",
    "backtracking": "abandoning or revising an earlier step or approach, e.g. after spotting a mistake",
}
"""One line per category: what the judge is told it means."""

BACKTRACKING = "backtracking"
OTHER = "other"
"""The keyword labeller's label for a sentence that does not open with a lexicon phrase."""

NO_CATEGORY_ID = 0
"""``labels/category`` of tokens outside any sentence, or in a sentence labelled ``other``."""
UNLABELLED_ID = -1
"""``labels/category`` of tokens in a sentence the labeller could not label (judge failures)."""
CATEGORY_IDS: Mapping[str, int] = {name: i + 1 for i, name in enumerate(CATEGORIES)}
"""Category → id in ``labels/category`` (1..6); 0 = none/other, -1 = unlabelled."""


def category_id(label: str | None) -> int:
    """The ``labels/category`` id of a sentence label (None = unlabelled)."""
    if label is None:
        return UNLABELLED_ID
    return CATEGORY_IDS.get(label, NO_CATEGORY_ID)


def normalize_category(text: str) -> str | None:
    """``"Adding Knowledge"`` / ``"adding_knowledge"`` → ``"adding-knowledge"``; None if unknown."""
    key = "-".join(text.strip().lower().replace("_", " ").replace("-", " ").split())
    return key if key in CATEGORY_IDS else None
