"""The labeller protocol: sentences of traces in, one label (or None) per sentence out.

Implementations: :class:`~experiments.labels.keyword.KeywordLabeller` and
:class:`~experiments.labels.judge.JudgeLabeller`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


class LabelRequest(NamedTuple):
    """One trace's sentences to label, with the problem they reason about (context for a judge)."""

    prompt: str
    sentences: tuple[str, ...]


class Labeller(Protocol):
    """Something that labels sentences with a category, ``"other"``, or None (could not label)."""

    name: str
    """Short name recorded with the labels, e.g. ``keyword`` or ``judge``."""

    def config_dict(self) -> dict[str, object]:
        """The settings that produced the labels (stored beside them)."""
        ...

    def label_many(self, items: Sequence[LabelRequest]) -> list[list[str | None]]:
        """One label per sentence of each item, in order."""
        ...
