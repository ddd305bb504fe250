"""Sentence labels of traces, and the labels JSONL file that holds them.

One line per trace: ``{"id", "labeller", "labeller_config", "sentences": [[start, end, label],
...]}``, spans are ``[start, end)`` characters of the trace's ``text``; ``label`` is a category
(see :mod:`experiments.labels.categories`), ``"other"`` (keyword labeller), or ``null`` (the
judge could not label it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError
from activation_store.token_input import iter_jsonl
from experiments.labels.categories import BACKTRACKING
from experiments.traces.jsonl_out import append_lines


@dataclass(frozen=True)
class LabelledSentence:
    """A sentence span and its label (None: unlabelled)."""

    start: int
    end: int
    label: str | None


@dataclass(frozen=True)
class TraceLabels:
    """All labelled sentences of one trace, by one labeller."""

    trace_id: str
    labeller: str
    """``keyword`` or ``judge``."""
    sentences: tuple[LabelledSentence, ...]
    labeller_config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def backtracking(self) -> tuple[LabelledSentence, ...]:
        return tuple(s for s in self.sentences if s.label == BACKTRACKING)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.trace_id,
            "labeller": self.labeller,
            "labeller_config": dict(self.labeller_config),
            "sentences": [[s.start, s.end, s.label] for s in self.sentences],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], where: str) -> TraceLabels:
        try:
            sentences = tuple(
                LabelledSentence(int(a), int(b), None if lab is None else str(lab))
                for a, b, lab in obj["sentences"]
            )
            return cls(
                str(obj["id"]),
                str(obj["labeller"]),
                sentences,
                dict(obj.get("labeller_config", {})),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(
                f"{where}: not a labels line ({type(err).__name__}: {err}); write labels with "
                "`backtrack label`"
            ) from err


def write_labels(path: str | Path, labels: Sequence[TraceLabels]) -> Path:
    """Write a labels file (replacing any old one, atomically)."""
    out = Path(path)
    if out.exists():
        out.unlink()
    append_lines(out, [json.dumps(t.to_json(), ensure_ascii=False) for t in labels])
    return out


def read_labels(path: str | Path) -> list[TraceLabels]:
    """Labels of a file; an empty file is an :class:`InputError`."""
    labels = [TraceLabels.from_json(obj, f"{path}:{line}") for line, obj in iter_jsonl(path)]
    if not labels:
        raise InputError(f"{path}: no labelled traces; run `backtrack label` first")
    return labels
