"""Weighted AUROC and average precision for many weightings at once, and accuracy.

The trace bootstrap (:func:`activation_store.core.stats.bootstrap_counts`) resamples *test
traces* (groups) with replacement, which becomes a weight per row (how often its trace was
drawn), so one sort of the scores serves every replicate. With all
weights equal to one the metrics equal scikit-learn's ``roc_auc_score`` and
``average_precision_score`` (with ``sample_weight``), ties included (tested).
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float

CHUNK = 128
"""Replicates evaluated together (bounds memory at about 6 × CHUNK × n_rows floats)."""


def ranking_metrics(
    scores: Float[np.ndarray, " n"],
    y: Bool[np.ndarray, " n"],
    weights: Float[np.ndarray, "b n"],
) -> tuple[Float[np.ndarray, " b"], Float[np.ndarray, " b"]]:
    """(AUROC, AP) of ``scores`` for labels ``y`` under each row of ``weights``.

    AUROC counts ties as half; AP is Σ_thresholds ΔRecall · Precision over distinct scores, as in
    scikit-learn. A weighting without positive or negative weight gives NaN.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    s, yy = np.asarray(scores, dtype=np.float64)[order], np.asarray(y, dtype=bool)[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    aucs, aps = [], []
    for lo in range(0, weights.shape[0], CHUNK):
        w = np.asarray(weights[lo : lo + CHUNK], dtype=np.float64)[:, order]
        gp = np.add.reduceat(w * yy, starts, axis=1)
        gn = np.add.reduceat(w * ~yy, starts, axis=1)
        tp, fp = np.cumsum(gp, axis=1), np.cumsum(gn, axis=1)
        p, n = tp[:, -1], fp[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            aucs.append((gp * (n[:, None] - fp + 0.5 * gn)).sum(axis=1) / (p * n))
            precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
            aps.append((gp * precision).sum(axis=1) / p)
    return np.concatenate(aucs), np.concatenate(aps)


def accuracy(
    prob: Float[np.ndarray, " n"],
    y: Bool[np.ndarray, " n"],
    weights: Float[np.ndarray, " n"],
    threshold: float,
) -> tuple[float, float]:
    """(weighted accuracy, balanced accuracy) of ``prob ≥ threshold``."""
    pred = prob >= threshold
    correct = pred == y
    acc = float((weights * correct).sum() / weights.sum())
    tpr = float(correct[y].mean()) if y.any() else float("nan")
    tnr = float(correct[~y].mean()) if (~y).any() else float("nan")
    return acc, (tpr + tnr) / 2
