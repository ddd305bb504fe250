"""The probe-fitting protocol: many L2-regularised logistic regressions on one feature matrix.

All probes of one layer share their rows (the gathered activations); what differs between them
is the label vector, which rows are in the training set (sample weight 0 = not), and C. Each
problem ``p`` minimises sklearn's objective

    ½‖w_p‖² + C_p Σ_i S[p, i] · logloss(Y[p, i], x_i·w_p + b_p)      (intercept unpenalised)

so a backend that solves it exactly agrees with ``sklearn.linear_model.LogisticRegression``.
Backends: :mod:`probes.logistic_sklearn` (one lbfgs fit at a time, warm-started along C) and
:mod:`probes.logistic_torch` (all problems batched, on any device), chosen by name with
:func:`probes.logistic.get_fitter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from jaxtyping import Float


@dataclass(frozen=True)
class Problems:
    """P logistic-regression problems over the same N rows."""

    X: Float[np.ndarray, "n d"]
    """Features (float32, standardised)."""
    Y: Float[np.ndarray, "p n"]
    """Labels in {0, 1}."""
    S: Float[np.ndarray, "p n"]
    """Sample weights; 0 excludes a row from problem p."""
    Cs: Float[np.ndarray, " p"]
    """Inverse regularisation strength per problem."""

    @property
    def n_problems(self) -> int:
        return int(self.Y.shape[0])


@dataclass(frozen=True)
class Fitted:
    coef: Float[np.ndarray, "p d"]
    intercept: Float[np.ndarray, " p"]

    def decision(self, X: Float[np.ndarray, "n d"]) -> Float[np.ndarray, "p n"]:
        return (self.coef @ X.T) + self.intercept[:, None]


class Fitter(Protocol):
    def __call__(self, problems: Problems) -> Fitted: ...


def balanced_weights(y: np.ndarray, in_set: np.ndarray) -> np.ndarray:
    """sklearn's ``class_weight='balanced'`` on the rows ``in_set``: each class carries half the
    loss (n / (2 n_class)); 0 outside the set."""
    w = np.zeros(len(y), dtype=np.float64)
    n = int(in_set.sum())
    for cls in (0, 1):
        members = in_set & (y == cls)
        if members.any():
            w[members] = n / (2.0 * members.sum())
    return w
