"""Fitting every offset's probe at one hook: logistic (C chosen on validation), the shuffled-label
control, and the difference-of-means direction used as a one-dimensional probe.

Features are standardised with the training rows' mean and standard deviation. For each offset,
each C is fitted on the training split, the C with the best validation AUROC is kept, and its
scores on the test split are returned (nothing is refitted on train + val).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float
from numpy.typing import NDArray

from probes.fitting import Fitted, Fitter, Problems, balanced_weights
from probes.metrics import ranking_metrics
from probes.probe_data import ProbeData
from probes.splits import TEST, TRAIN, VAL


@dataclass(frozen=True)
class FamilyScores:
    """Test-split scores at one hook (or of the token baseline), one array per offset, aligned with
    ``data.member(o, TEST)``."""

    logit: list[NDArray[np.float64]]
    best_C: list[float]
    val_auroc: list[float]
    dom: list[NDArray[np.float64]] | None = None
    """Projection of raw activations on the training split's mean difference (pos − neg)."""
    shuffled: list[list[NDArray[np.float64]]] | None = None
    """[offset][permutation] logits of the probe refitted (at the chosen C) on permuted labels."""


def fit_family(
    X_raw: Float[np.ndarray, "n_rows d"],
    data: ProbeData,
    Cs: tuple[float, ...],
    fitter: Fitter,
    *,
    dom: bool = True,
    n_shuffles: int = 1,
    seed: int = 0,
) -> FamilyScores:
    """Fit all offsets × Cs at once through ``fitter`` and score the test split."""
    X = np.asarray(X_raw, dtype=np.float32)
    Z = _standardise(X, data.part == TRAIN)
    train = data.part == TRAIN
    n_off, n_c = len(data.offsets), len(Cs)
    Y_O = data.positive[:, train].astype(np.float64)
    S_O = np.stack([balanced_weights(Y_O[o], _member(data, o)[train]) for o in range(n_off)])
    fitted = fitter(
        Problems(
            X=Z[train],
            Y=np.repeat(Y_O, n_c, axis=0),
            S=np.repeat(S_O, n_c, axis=0),
            Cs=np.tile(np.asarray(Cs, dtype=np.float64), n_off),
        )
    )
    best, val_auc = _choose_C(fitted, Z, data, n_c)
    logit = [_scores(fitted, o * n_c + best[o], Z[data.member(o, TEST)]) for o in range(n_off)]
    out_dom = [_dom_scores(X, data, o) for o in range(n_off)] if dom else None
    out_shuffled = None
    if n_shuffles:
        Y_shuf = np.concatenate([_permuted(Y_O, S_O > 0, seed + i) for i in range(n_shuffles)])
        chosen = np.tile([Cs[b] for b in best], n_shuffles).astype(np.float64)
        S_rep = np.tile(S_O, (n_shuffles, 1))
        refit = fitter(Problems(X=Z[train], Y=Y_shuf, S=S_rep, Cs=chosen))
        out_shuffled = [
            [_scores(refit, i * n_off + o, Z[data.member(o, TEST)]) for i in range(n_shuffles)]
            for o in range(n_off)
        ]
    return FamilyScores(
        logit=logit,
        best_C=[float(Cs[b]) for b in best],
        val_auroc=val_auc,
        dom=out_dom,
        shuffled=out_shuffled,
    )


def _member(data: ProbeData, o: int) -> NDArray[np.bool_]:
    return data.positive[o] | data.negative[o]


def _standardise(X: NDArray[np.float32], train: NDArray[np.bool_]) -> NDArray[np.float32]:
    mu = X[train].mean(axis=0, dtype=np.float64)
    sd = X[train].std(axis=0, dtype=np.float64)
    sd[sd < 1e-8] = 1.0
    return ((X - mu) / sd).astype(np.float32)


def _choose_C(
    fitted: Fitted, Z: NDArray[np.float32], data: ProbeData, n_c: int
) -> tuple[list[int], list[float]]:
    best, aucs = [], []
    for o in range(len(data.offsets)):
        sel = data.member(o, VAL)
        y = data.positive[o][sel]
        scores = [_scores(fitted, o * n_c + c, Z[sel]) for c in range(n_c)]
        ones = np.ones((1, int(sel.sum())))
        val = [float(ranking_metrics(s, y, ones)[0][0]) for s in scores]
        b = int(np.nanargmax(val)) if np.isfinite(val).any() else 0
        best.append(b)
        aucs.append(val[b])
    return best, aucs


def _scores(fitted: Fitted, p: int, Z: NDArray[np.float32]) -> NDArray[np.float64]:
    return Z.astype(np.float64) @ fitted.coef[p] + fitted.intercept[p]


def _dom_scores(X: NDArray[np.float32], data: ProbeData, o: int) -> NDArray[np.float64]:
    train = data.part == TRAIN
    pos = train & data.positive[o]
    neg = train & data.negative[o]
    v = X[pos].mean(axis=0, dtype=np.float64) - X[neg].mean(axis=0, dtype=np.float64)
    return X[data.member(o, TEST)].astype(np.float64) @ v


def _permuted(Y: NDArray[np.float64], in_set: NDArray[np.bool_], seed: int) -> NDArray[np.float64]:
    """Each offset's training labels permuted among its own training rows (class counts kept)."""
    rng = np.random.default_rng(seed + 7919)
    out = Y.copy()
    for o in range(Y.shape[0]):
        idx = np.flatnonzero(in_set[o])
        out[o, idx] = Y[o, idx[rng.permutation(len(idx))]]
    return out
