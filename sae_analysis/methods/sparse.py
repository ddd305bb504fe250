"""Sparse reconstruction: the direction as a signed combination of k decoder rows, k = 1…K.

Orthogonal matching pursuit (OMP) over the unit-normalised decoder rows: each step adds the row
most correlated with the current residual, then refits all coefficients by least squares on the
chosen rows. The least-squares fit is updated incrementally (a Cholesky factor of the chosen rows'
Gram matrix grows by one row per step, in float64), so a step costs one pass over the decoder
(``W_dec @ residual``) plus O(k·d_in) work, and the decoder is never copied or normalised in memory.

Reading the result: ``explained_variance[k-1]`` is the share of the direction's squared norm that its
best fit on the first k chosen rows explains (the squared cosine between the direction and that
fit). ``unexplained_share`` at K is what no combination of these K features explains. Greedy
selection is not guaranteed to find the best K-subset, so this is an upper bound on the best
achievable residual; a steering vector can lie largely outside what an SAE represents
(Mayne et al., arXiv 2411.08790), so always report it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from jaxtyping import Float
from torch import Tensor

from activation_store.core.errors import InputError
from sae_analysis.dictionary import decoder_matvec, decoder_norms

log = logging.getLogger(__name__)

StopReason = Literal["k_max", "exact", "orthogonal", "dependent"]
TINY_SHARE = 1e-10
"""Relative to |direction|²: a residual this small is an exact fit, and a (unit row · residual)²
this small means the residual is orthogonal to every decoder row."""
DEPENDENT = 1e-10
"""A new unit row whose component orthogonal to the chosen rows has squared norm below this adds
nothing: the chosen rows already span it."""


@dataclass(frozen=True, kw_only=True)
class SparseReconstruction:
    """OMP of one direction over an SAE's decoder rows."""

    indices: tuple[int, ...]
    """Chosen features in the order OMP added them; the support at k is ``indices[:k]``."""
    coefficients: tuple[float, ...]
    """Final coefficients on the raw decoder rows: direction ≈ Σ c_i · W_dec[i]."""
    coefficients_by_k: tuple[tuple[float, ...], ...]
    """``coefficients_by_k[k-1]``: the least-squares coefficients of the first k features."""
    explained_variance: tuple[float, ...]
    """``explained_variance[k-1]``: 1 − |direction − fit_k|² / |direction|², for k = 1…steps."""
    unexplained_share: float
    """|direction − fit|² / |direction|² at the last step: what the chosen features leave out
    (1.0 when no decoder row correlates with the direction at all)."""
    decoder_norms: tuple[float, ...]
    """|W_dec[i]| of the chosen features (contribution of feature i: c_i · |W_dec[i]|)."""
    k_max: int
    """K requested; fewer steps are taken when nothing is left to explain."""
    stop_reason: StopReason
    """``k_max`` (K steps done), ``exact`` (residual ≈ 0), ``orthogonal`` (the residual is
    orthogonal to every decoder row), or ``dependent`` (the best row adds no new direction)."""
    reconstruction: Float[Tensor, " d_in"] = field(repr=False)
    """The fit at the last step, float32 on the CPU."""

    @property
    def steps(self) -> int:
        return len(self.indices)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "omp",
            "indices": list(self.indices),
            "coefficients": list(self.coefficients),
            "coefficients_by_k": [list(c) for c in self.coefficients_by_k],
            "explained_variance": list(self.explained_variance),
            "unexplained_share": self.unexplained_share,
            "decoder_norms": list(self.decoder_norms),
            "k_max": self.k_max,
            "steps": self.steps,
            "stop_reason": self.stop_reason,
        }


@torch.no_grad()
def sparse_reconstruction(
    W_dec: Float[Tensor, "d_sae d_in"], direction: Float[Tensor, " d_in"], k_max: int
) -> SparseReconstruction:
    """Greedy OMP of ``direction`` over the rows of ``W_dec`` for k = 1…``k_max``."""
    d_sae, d_in = W_dec.shape
    _check_inputs(d_sae, d_in, direction, k_max)
    v = direction.detach().to("cpu", torch.float64)
    tiny = TINY_SHARE * float(v @ v)
    norms = decoder_norms(W_dec)
    usable = norms > norms.max() * 1e-6
    inv_norms = torch.where(usable, 1.0 / norms.clamp_min(1e-30), torch.zeros_like(norms))
    state = _OmpState(v, k_max)
    stop: StopReason = "k_max"
    for _ in range(k_max):
        scores = (decoder_matvec(W_dec, state.residual) * inv_norms).abs()
        if state.chosen:
            scores[torch.tensor(state.chosen, device=scores.device)] = 0.0
        j = int(torch.argmax(scores))
        if float(scores[j]) ** 2 <= tiny:
            stop = "orthogonal"
            break
        atom = W_dec[j].detach().to("cpu", torch.float64) * float(inv_norms[j])
        if not state.add(j, atom):
            stop = "dependent"
            log.info("OMP stopped at k=%d: feature %d adds no new direction", len(state.chosen), j)
            break
        if state.residual_sq[-1] <= tiny:
            stop = "exact"
            break
    return state.result(norms, k_max, stop)


def _check_inputs(d_sae: int, d_in: int, direction: Tensor, k_max: int) -> None:
    if direction.shape != (d_in,):
        raise InputError(
            f"direction has shape {tuple(direction.shape)} but the SAE's d_in is {d_in}; "
            "use an SAE for the direction's model and hook"
        )
    if not 1 <= k_max <= d_sae:
        raise InputError(f"k_max={k_max} must be between 1 and the SAE's d_sae={d_sae}")
    if not torch.isfinite(direction).all() or float(direction.norm()) == 0.0:
        raise InputError(
            "the direction has zero norm (or NaN entries); it has nothing to decompose"
        )


class _OmpState:
    """Chosen unit rows, the Cholesky factor of their Gram matrix, the fit and its residual."""

    def __init__(self, v: Tensor, k_max: int) -> None:
        self.v = v
        self.chosen: list[int] = []
        self.atoms = torch.zeros(k_max, v.shape[0], dtype=torch.float64)
        self.L = torch.zeros(k_max, k_max, dtype=torch.float64)
        self.b = torch.zeros(k_max, dtype=torch.float64)
        self.coefs_by_k: list[Tensor] = []
        self.residual_sq: list[float] = []
        self.fit = torch.zeros_like(v)
        self.residual = v.clone()

    def add(self, j: int, atom: Tensor) -> bool:
        """Append unit row ``j`` and refit; False (nothing changed) if the chosen rows span it."""
        t = len(self.chosen)
        w = torch.linalg.solve_triangular(
            self.L[:t, :t], (self.atoms[:t] @ atom)[:, None], upper=False
        )[:, 0]
        d_sq = float(atom @ atom - w @ w)
        if d_sq <= DEPENDENT:
            return False
        self.L[t, :t], self.L[t, t] = w, d_sq**0.5
        self.atoms[t], self.b[t] = atom, atom @ self.v
        self.chosen.append(j)
        k = t + 1
        coef = torch.cholesky_solve(self.b[:k, None], self.L[:k, :k], upper=False)[:, 0]
        self.coefs_by_k.append(coef)
        self.fit = coef @ self.atoms[:k]
        self.residual = self.v - self.fit
        self.residual_sq.append(float(self.residual @ self.residual))
        return True

    def result(self, norms: Tensor, k_max: int, stop: StopReason) -> SparseReconstruction:
        v_sq = float(self.v @ self.v)
        raw = [1.0 / float(norms[j]) for j in self.chosen]
        by_k = tuple(
            tuple(float(c) * raw[i] for i, c in enumerate(coef)) for coef in self.coefs_by_k
        )
        ev = tuple(min(1.0, max(0.0, 1.0 - r / v_sq)) for r in self.residual_sq)
        return SparseReconstruction(
            indices=tuple(self.chosen),
            coefficients=by_k[-1] if by_k else (),
            coefficients_by_k=by_k,
            explained_variance=ev,
            unexplained_share=float(self.residual @ self.residual) / v_sq,
            decoder_norms=tuple(float(norms[j]) for j in self.chosen),
            k_max=k_max,
            stop_reason=stop,
            reconstruction=self.fit.to(torch.float32),
        )
