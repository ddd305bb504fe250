"""What a problem family returns: the question and its worked solution (the answer is the last
step's value)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import NamedTuple

from experiments.prompts.steps import Step, Value


class Draft(NamedTuple):
    """A drawn problem before it gets an id and a split."""

    prompt: str
    """The question."""
    steps: tuple[Step, ...]
    """Worked solution, computed by the solver."""

    @property
    def answer(self) -> Value:
        """The final answer: the value of the last step."""
        return self.steps[-1].value


Family = Callable[[random.Random], Draft]
"""Draws one problem of a category from a seeded generator."""
