"""Agreement between two labellings of the same sentences: Cohen's κ and the confusion matrix.

Sentences are matched by (trace id, start, end). By default labels are reduced to the question both
labellers answer, "is this sentence backtracking?"; with ``binary=False`` the full labels are
compared (two judges, say). Sentences either labeller left unlabelled, or that only one of them
has, are excluded and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from jaxtyping import Int
from numpy import ndarray

from experiments.labels.categories import BACKTRACKING
from experiments.labels.result import TraceLabels

NOT_BACKTRACKING = "not-backtracking"


@dataclass(frozen=True)
class Agreement:
    """How two labellers agree on the sentences they both labelled."""

    a: str
    """First labeller's name."""
    b: str
    classes: tuple[str, ...]
    """Row/column order of ``confusion``."""
    confusion: Int[ndarray, "a_class b_class"]
    """``confusion[i, j]``: sentences labelled ``classes[i]`` by ``a`` and ``classes[j]`` by ``b``."""
    kappa: float
    """Cohen's κ (nan when both labellers use a single identical class throughout)."""
    n: int
    """Sentences compared."""
    excluded: int
    """Sentences unlabelled by either side or missing from one side."""

    @property
    def observed(self) -> float:
        """Fraction of compared sentences with equal labels."""
        return float(np.trace(self.confusion) / self.n) if self.n else float("nan")

    def to_json(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "classes": list(self.classes),
            "confusion": self.confusion.tolist(),
            "kappa": self.kappa,
            "observed_agreement": self.observed,
            "n": self.n,
            "excluded": self.excluded,
        }

    def format(self) -> str:
        width = max(len(c) for c in self.classes) + 2
        lines = [
            f"agreement of {self.a} (rows) and {self.b} (columns) on {self.n} sentences "
            f"({self.excluded} excluded): Cohen's kappa {self.kappa:.3f}, observed {self.observed:.3f}",
            " " * width + "".join(c.rjust(width) for c in self.classes),
        ]
        for cls, row in zip(self.classes, self.confusion, strict=True):
            lines.append(cls.ljust(width) + "".join(str(int(v)).rjust(width) for v in row))
        return "\n".join(lines)


def cohen_kappa(confusion: Int[ndarray, "k k"]) -> float:
    """κ = (p_o − p_e) / (1 − p_e) from a confusion matrix (nan when p_e = 1)."""
    total = confusion.sum()
    if total == 0:
        return float("nan")
    p_o = np.trace(confusion) / total
    p_e = float((confusion.sum(axis=1) * confusion.sum(axis=0)).sum()) / float(total) ** 2
    if p_e >= 1.0:
        return float("nan")
    return float((p_o - p_e) / (1.0 - p_e))


def _reduce(label: str, binary: bool) -> str:
    return label if not binary else (BACKTRACKING if label == BACKTRACKING else NOT_BACKTRACKING)


def agreement(
    a: Sequence[TraceLabels], b: Sequence[TraceLabels], *, binary: bool = True
) -> Agreement:
    """Compare two labellings (e.g. keyword and judge) of the same traces."""
    a_map = {(t.trace_id, s.start, s.end): s.label for t in a for s in t.sentences}
    b_map = {(t.trace_id, s.start, s.end): s.label for t in b for s in t.sentences}
    pairs = [
        (_reduce(la, binary), _reduce(lb, binary))
        for key, la in a_map.items()
        if (lb := b_map.get(key)) is not None and la is not None
    ]
    excluded = len(set(a_map) | set(b_map)) - len(pairs)
    if binary:
        classes: tuple[str, ...] = (BACKTRACKING, NOT_BACKTRACKING)
    else:
        classes = tuple(sorted({x for pair in pairs for x in pair}))
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for la, lb in pairs:
        confusion[index[la], index[lb]] += 1
    name_a = a[0].labeller if a else "a"
    name_b = b[0].labeller if b else "b"
    return Agreement(
        name_a, name_b, classes, confusion, cohen_kappa(confusion), len(pairs), excluded
    )
