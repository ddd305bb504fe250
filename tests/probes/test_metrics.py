from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from probes.metrics import accuracy, ranking_metrics


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_auroc_and_ap_equal_sklearn(ties):
    rng = np.random.default_rng(0)
    n = 500
    y = rng.random(n) < 0.2
    scores = rng.normal(size=n) + y
    if ties:
        scores = np.round(scores, 1)
    weights = rng.integers(0, 4, size=(3, n)).astype(float)
    weights[0] = 1.0
    auc, ap = ranking_metrics(scores, y, weights)
    for b in range(3):
        w = weights[b]
        assert auc[b] == pytest.approx(roc_auc_score(y, scores, sample_weight=w), abs=1e-12)
        assert ap[b] == pytest.approx(
            average_precision_score(y, scores, sample_weight=w), abs=1e-12
        )


def test_accuracy_is_weighted_and_balanced_accuracy_is_not():
    y = np.array([True, False, False])
    prob = np.array([0.9, 0.8, 0.1])
    acc, bal = accuracy(prob, y, np.array([1.0, 10.0, 10.0]), 0.5)
    assert acc == pytest.approx(11 / 21)
    assert bal == pytest.approx(0.75)
