from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from probes.fitting import Problems, balanced_weights
from probes.logistic_sklearn import fit_sklearn
from probes.logistic_torch import TorchFitter


def _problems(seed=0, n=600, d=20):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=d)
    ys = [(X @ w + rng.normal(scale=s, size=n) > 1.5).astype(float) for s in (1.0, 3.0)]
    in_set = np.ones(n, dtype=bool)
    in_set[: n // 10] = False  # rows outside a problem
    S = np.stack([balanced_weights(y, in_set) for y in ys])
    Cs = (0.01, 1.0)
    return Problems(X=X, Y=np.repeat(np.stack(ys), 2, 0), S=np.repeat(S, 2, 0), Cs=np.tile(Cs, 2))


def test_sklearn_backend_equals_plain_sklearn():
    pr = _problems()
    fitted = fit_sklearn(pr)
    for p in range(pr.n_problems):
        rows = pr.S[p] > 0
        ref = LogisticRegression(C=pr.Cs[p], max_iter=1000, tol=1e-8).fit(
            pr.X[rows], pr.Y[p, rows], sample_weight=pr.S[p, rows]
        )
        np.testing.assert_allclose(fitted.coef[p], ref.coef_[0], atol=2e-3)


def test_torch_backend_matches_sklearn(device):
    pr = _problems(seed=1)
    a, b = fit_sklearn(pr), TorchFitter(device=device)(pr)
    rng = np.random.default_rng(5)
    X_test = rng.normal(size=(400, pr.X.shape[1])).astype(np.float32)
    for p in range(pr.n_problems):
        np.testing.assert_allclose(b.coef[p], a.coef[p], atol=5e-3, rtol=1e-2)
        y = (a.decision(X_test)[p] > 0).astype(int)
        if 0 < y.sum() < len(y):
            ra = roc_auc_score(y, a.decision(X_test)[p])
            rb = roc_auc_score(y, b.decision(X_test)[p])
            assert abs(ra - rb) < 0.01


def test_balanced_weights_give_each_class_half():
    y = np.array([1, 0, 0, 0, 1, 0], dtype=float)
    in_set = np.array([1, 1, 1, 1, 0, 1], dtype=bool)
    w = balanced_weights(y, in_set)
    assert w[4] == 0
    assert w[y == 1].sum() == pytest.approx(w[(y == 0) & in_set].sum())
