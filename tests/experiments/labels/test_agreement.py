from __future__ import annotations

import numpy as np
from sklearn.metrics import cohen_kappa_score

from experiments.labels import LabelledSentence, TraceLabels, agreement, cohen_kappa


def _labels(name: str, labels: list[str | None], trace: str = "t") -> TraceLabels:
    return TraceLabels(
        trace,
        name,
        tuple(LabelledSentence(i * 10, i * 10 + 5, lab) for i, lab in enumerate(labels)),
    )


def test_kappa_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 200)
    b = np.where(rng.random(200) < 0.7, a, rng.integers(0, 3, 200))
    confusion = np.zeros((3, 3), dtype=np.int64)
    np.add.at(confusion, (a, b), 1)
    assert np.isclose(cohen_kappa(confusion), cohen_kappa_score(a, b))
    assert np.isnan(cohen_kappa(np.array([[5, 0], [0, 0]])))


def test_binary_agreement_excludes_unlabelled_and_unmatched() -> None:
    kw = [_labels("keyword", ["backtracking", "other", "other", "backtracking", "other"])]
    judge = [
        _labels(
            "judge",
            ["backtracking", "deduction", "backtracking", None, "initializing", "deduction"],
        )
    ]
    report = agreement(kw, judge)
    assert report.classes == ("backtracking", "not-backtracking")
    assert report.confusion.tolist() == [[1, 0], [1, 2]]
    assert report.n == 4 and report.excluded == 2  # one unlabelled, one only in the judge's labels
    assert np.isclose(report.kappa, cohen_kappa_score(["b", "o", "o", "o"], ["b", "o", "b", "o"]))
    assert "Cohen's kappa 0.500" in report.format() and report.to_json()["n"] == 4


def test_category_agreement() -> None:
    a = [_labels("judge", ["deduction", "backtracking", "initializing"])]
    b = [_labels("judge2", ["deduction", "backtracking", "deduction"])]
    report = agreement(a, b, binary=False)
    assert report.classes == ("backtracking", "deduction", "initializing")
    assert report.observed == 2 / 3
