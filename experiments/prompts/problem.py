"""A prompt: what the model is asked, its category, its computed answer and worked solution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from experiments.prompts.steps import Step, Value, propagate_error

Split = Literal["derivation", "evaluation"]
"""``derivation``: prompts whose traces a direction is computed from; ``evaluation``: held-out
prompts for steering, never used to derive a direction."""
SPLITS: tuple[Split, ...] = ("derivation", "evaluation")


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One prompt, built in (with answer and steps) or brought by the user (maybe neither)."""

    id: str
    """Unique id, e.g. ``carry-007``; becomes the trace id."""
    prompt: str
    """The question as the model sees it (inside the chat template for reasoning models)."""
    category: str | None = None
    """One of :data:`~experiments.prompts.CATEGORIES` for built-in sets; free text or None for
    user prompts."""
    answer: Value | None = None
    """The correct final answer, computed by the generator (None if unknown)."""
    steps: tuple[Step, ...] = ()
    """Ground-truth worked solution; empty for user prompts."""
    split: Split | None = None
    """Fixed split of built-in sets; None for user prompts unless their file gives one."""

    @property
    def solution_text(self) -> str:
        """The worked solution as sentences, one per step."""
        return " ".join(s.text for s in self.steps)

    def with_error(self, index: int, value: Value) -> tuple[Step, ...]:
        """The steps with step ``index`` stating ``value``, propagated (see :func:`propagate_error`)."""
        return propagate_error(self.steps, index, value)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "prompt": self.prompt}
        if self.category is not None:
            out["category"] = self.category
        if self.answer is not None:
            out["answer"] = self.answer
        if self.split is not None:
            out["split"] = self.split
        if self.steps:
            out["steps"] = [s.to_json() for s in self.steps]
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Problem:
        """Inverse of :meth:`to_json`; no validation (see :func:`~experiments.prompts.load_prompts`)."""
        return cls(
            id=str(obj["id"]),
            prompt=obj["prompt"],
            category=obj.get("category"),
            answer=obj.get("answer"),
            steps=tuple(Step.from_json(s) for s in obj.get("steps", ())),
            split=obj.get("split"),
        )
