"""Null subspaces for ablation, and how much of the residual stream an ablated span holds.

An ablated span is compared with random subspaces of the same dimension. *Isotropic* ones
(:func:`~experiments.steering.interventions.operators.random_subspace`) are uniform on the
Grassmannian, but the residual stream is far from isotropic: a span built from
difference-of-means directions usually carries much more of the activations' variance than a
uniform random subspace, so removing it moves the model more for reasons that have nothing to do
with backtracking. *Variance-matched* subspaces remove the same variance.

Construction (:func:`variance_matched_subspace`): with the activations' covariance
``Σ = U Λ Uᵀ``, draw ``k`` Gaussian vectors with covariance ``Σ^β`` and orthonormalise them. β = 0
is the isotropic draw; β > 0 tilts it towards the top principal directions (β → ∞: the top ``k``),
β < 0 towards the bottom ones. One tilt β is found per target (bisection on the median projected
variance of a fixed calibration batch), so that the target is the family's typical value; then
each subspace's own seeded draws are taken until one lies within ``tolerance`` (relative) of the
target. The result is a random subspace, as uninformed about backtracking as an isotropic one,
whose projected variance equals the ablated span's.

The residual share of a span (:func:`residual_share`): ‖Q Qᵀ μ‖ / ‖μ‖ (the mean activation's
component, what zero-ablation takes from every token), tr(Qᵀ Σ Q) / tr(Σ) (the share of variance
removed) and the share of the second moment E‖Qᵀx‖² / E‖x‖² (all that zero-ablation removes).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from numpy.typing import NDArray
from torch import Tensor

from activation_store.core.errors import InputError
from experiments.steering.interventions.operators import orthonormal_basis

CALIBRATION_DRAWS = 64
"""Draws of the fixed batch the tilt β is calibrated on."""
MAX_DRAWS = 2000
"""Draws per subspace before giving up on the tolerance."""
MAX_TILT = 40.0
"""Largest |β| searched (eigenvalues are normalised, so Σ^β stays finite)."""


def basis_name(k: int, seed: int, i: int) -> str:
    """The saved name of the ``i``-th basis vector of variance-matched subspace (``k``, ``seed``)."""
    return f"matched{k}s{seed}_{i}"


def projected_variance(
    basis_KD: Float[Tensor, "k d_model"] | NDArray[np.floating], covariance: NDArray[np.float64]
) -> float:
    """tr(Q Σ Qᵀ): the activations' variance along the span of the orthonormal rows ``Q``."""
    q = np.asarray(basis_KD, dtype=np.float64)
    return float(np.einsum("kd,de,ke->", q, covariance, q))


def residual_share(
    basis_KD: Float[Tensor, "k d_model"],
    mean: NDArray[np.float64],
    covariance: NDArray[np.float64],
) -> dict[str, float]:
    """How much of the residual stream the span of ``basis_KD`` (orthonormal rows) holds."""
    q = np.asarray(basis_KD, dtype=np.float64)
    mean_part = q @ mean
    variance = projected_variance(q, covariance)
    total_variance = float(np.trace(covariance))
    second = variance + float(mean_part @ mean_part)
    return {
        "mean_share": float(np.linalg.norm(mean_part)) / max(float(np.linalg.norm(mean)), 1e-30),
        "mean_component": float(np.linalg.norm(mean_part)),
        "mean_norm": float(np.linalg.norm(mean)),
        "variance_share": variance / max(total_variance, 1e-30),
        "second_moment_share": second / max(total_variance + float(mean @ mean), 1e-30),
        "projected_variance": variance,
    }


class VarianceMatcher:
    """Draws random subspaces whose projected variance matches a target (module docstring)."""

    def __init__(self, covariance: NDArray[np.float64]) -> None:
        cov = np.asarray(covariance, dtype=np.float64)
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
            raise InputError(f"covariance must be a square matrix, got shape {cov.shape}")
        eigenvalues, vectors = np.linalg.eigh((cov + cov.T) / 2)
        floor = max(float(eigenvalues.max()), 1e-30) * 1e-10
        self.covariance = cov
        self.eigenvalues = np.clip(eigenvalues, 0.0, None)
        self.log_eigenvalues = np.log(np.clip(eigenvalues, floor, None))
        self.vectors = vectors
        self._tilts: dict[tuple[int, float], float] = {}

    @property
    def d_model(self) -> int:
        return int(self.covariance.shape[0])

    def range(self, k: int) -> tuple[float, float]:
        """The least and most variance a ``k``-subspace can hold (bottom / top ``k`` eigenvalues)."""
        ev = np.sort(self.eigenvalues)
        return float(ev[:k].sum()), float(ev[-k:].sum())

    def _draw(self, gaussian_KD: NDArray[np.float64], tilt: float) -> NDArray[np.float64]:
        """Orthonormal rows in the eigenbasis (Σ^(β/2)·g, up to a constant: the same span)."""
        log_scale = 0.5 * tilt * self.log_eigenvalues
        scale = np.exp(log_scale - log_scale.max())
        q_DK, _ = np.linalg.qr((gaussian_KD * scale).T)
        return np.asarray(q_DK.T)

    def _variance(self, q_KD: NDArray[np.float64]) -> float:
        """Projected variance of eigenbasis rows: Σ_j λ_j ‖q_j‖² (O(k·d), no d×d product)."""
        return float((q_KD**2).sum(axis=0) @ self.eigenvalues)

    def _median(self, calibration: NDArray[np.float64], tilt: float) -> float:
        return float(np.median([self._variance(self._draw(g, tilt)) for g in calibration]))

    def tilt(self, k: int, target: float) -> float:
        """The β whose draws have median projected variance ``target`` (cached per target)."""
        key = (k, round(target, 12))
        if key in self._tilts:
            return self._tilts[key]
        low, high = self.range(k)
        if not low < target < high:
            raise InputError(
                f"target projected variance {target:.4g} lies outside what a {k}-subspace can hold "
                f"({low:.4g}…{high:.4g}); use isotropic random subspaces"
            )
        rng = np.random.default_rng(12345 + k)
        calibration = rng.standard_normal((CALIBRATION_DRAWS, k, self.d_model))
        lo, hi = -MAX_TILT, MAX_TILT
        for _ in range(40):
            mid = (lo + hi) / 2
            if self._median(calibration, mid) < target:
                lo = mid
            else:
                hi = mid
        self._tilts[key] = (lo + hi) / 2
        return self._tilts[key]

    def draw(
        self, k: int, target: float, seed: int, *, tolerance: float = 0.05
    ) -> tuple[Float[Tensor, "k d_model"], float, int]:
        """A random ``k``-subspace (orthonormal rows, float32) within ``tolerance`` (relative) of
        ``target`` projected variance, from the seeded stream ``seed``; with its variance and the
        number of draws it took."""
        beta = self.tilt(k, target)
        rng = np.random.default_rng(seed)
        for n in range(1, MAX_DRAWS + 1):
            q_KD = self._draw(rng.standard_normal((k, self.d_model)), beta)
            if abs(self._variance(q_KD) - target) <= tolerance * target:
                basis = orthonormal_basis(torch.from_numpy(q_KD @ self.vectors.T))
                return basis, projected_variance(basis, self.covariance), n
        raise InputError(
            f"no random {k}-subspace within {tolerance:.0%} of projected variance {target:.4g} in "
            f"{MAX_DRAWS} draws (seed {seed}); raise variance_tolerance"
        )


def variance_matched_subspace(
    covariance: NDArray[np.float64], k: int, target: float, seed: int, *, tolerance: float = 0.05
) -> Float[Tensor, "k d_model"]:
    """One variance-matched random subspace (see :class:`VarianceMatcher`; build the matcher
    once for many subspaces of one covariance)."""
    basis, _, _ = VarianceMatcher(covariance).draw(k, target, seed, tolerance=tolerance)
    return basis


def share_summary(shares: dict[str, Any]) -> str:
    """One line: the mean component and the variance share of a span."""
    if not shares or not math.isfinite(shares.get("mean_share", math.nan)):
        return ""
    return (
        f"‖proj mean‖ {shares['mean_component']:.1f} of {shares['mean_norm']:.1f} "
        f"({shares['mean_share']:.0%}), variance {shares['variance_share']:.1%}"
    )
