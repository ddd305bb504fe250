"""Directional ablation: project the residual stream onto the orthogonal complement of a subspace.

``resid ← resid − Q Qᵀ resid`` with ``Q`` an orthonormal basis of the span of 1..k directions, as in
refusal-direction ablation (Arditi et al. 2024): *zero-ablation*. With a ``mean`` (the mean
activation at the hook), the component in the span is replaced by the mean's instead —
``resid ← resid − Q Qᵀ (resid − mean)``, *mean-ablation* — which removes what varies along the
span without also removing the large constant part every token shares (zero-ablating a span that
holds much of the mean activation moves every token off the model's usual manifold). The
projection coefficients are computed in float32 even for bfloat16 activations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from activation_store.core.errors import InputError
from experiments.steering.interventions.operators.base import DeviceCache

RANK_TOLERANCE = 1e-5
"""Relative size under which a direction counts as lying in the span of the ones before it."""


def orthonormal_basis(
    vectors_KD: Float[Tensor, "k d_model"], names: Sequence[str] | None = None
) -> Float[Tensor, "k d_model"]:
    """Gram-Schmidt (via QR) of ``k`` vectors, in their order; refuses linearly dependent sets."""
    if vectors_KD.ndim != 2 or vectors_KD.shape[0] == 0:
        raise InputError("ablation needs at least one direction (a [k, d_model] matrix)")
    k, d_model = vectors_KD.shape
    if k > d_model:
        raise InputError(f"cannot ablate {k} directions from a {d_model}-dimensional stream")
    vectors_KD = vectors_KD.detach().to("cpu", torch.float64)
    q_DK, r_KK = torch.linalg.qr(vectors_KD.T)
    scale = vectors_KD.norm(dim=1).clamp_min(1e-30)
    diag = r_KK.diagonal().abs() / scale
    bad = (diag < RANK_TOLERANCE).nonzero().flatten().tolist()
    if bad:
        label = names[bad[0]] if names is not None else f"#{bad[0]}"
        raise InputError(
            f"direction {label} is (nearly) in the span of the directions before it (or zero); "
            "drop it from the ablation set"
        )
    return q_DK.T.to(torch.float32).contiguous()


def random_subspace(d_model: int, k: int, seed: int) -> Float[Tensor, "k d_model"]:
    """An orthonormal basis of a uniformly random ``k``-dimensional subspace (seeded, CPU)."""
    generator = torch.Generator().manual_seed(seed)
    gaussian_KD = torch.randn(k, d_model, generator=generator, dtype=torch.float64)
    return orthonormal_basis(gaussian_KD)


@dataclass(frozen=True, eq=False)
class ProjectOut:
    """Remove the component of the residual stream in the span of ``basis``."""

    basis: Float[Tensor, "k d_model"]
    """Orthonormal rows (see :func:`orthonormal_basis`)."""
    names: Sequence[str] = ()
    """What spans the subspace, for result files (e.g. direction names or ``random(k=3, seed=1)``)."""
    mean: Float[Tensor, " d_model"] | None = None
    """The mean activation at the hook: mean-ablation (its component in the span is kept);
    None: zero-ablation."""
    _basis: DeviceCache = field(init=False, repr=False, compare=False)
    _kept: DeviceCache | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        basis = self.basis.detach().to("cpu", torch.float32)
        gram = basis @ basis.T
        if not torch.allclose(gram, torch.eye(len(basis)), atol=1e-4):
            raise InputError("ProjectOut needs orthonormal rows; build them with orthonormal_basis")
        object.__setattr__(self, "_basis", DeviceCache(basis))
        kept = None
        if self.mean is not None:
            mean = self.mean.detach().to("cpu", torch.float32).reshape(-1)
            if mean.shape[0] != basis.shape[1]:
                raise InputError(
                    f"mean activation has width {mean.shape[0]} but the subspace {basis.shape[1]}"
                )
            kept = DeviceCache(((basis @ mean) @ basis)[None, None, :])  # Q Qᵀ mean
        object.__setattr__(self, "_kept", kept)

    @property
    def d_model(self) -> int:
        return int(self.basis.shape[1])

    @property
    def k(self) -> int:
        return int(self.basis.shape[0])

    def __call__(
        self, resid_BTD: Float[Tensor, "batch pos d_model"], mask_BT: Bool[Tensor, "batch pos"]
    ) -> Float[Tensor, "batch pos d_model"]:
        q_KD = self._basis.on(resid_BTD, torch.float32)
        coef_BTK = resid_BTD.to(torch.float32) @ q_KD.T
        removed_BTD = coef_BTK @ q_KD
        if self._kept is not None:
            removed_BTD = removed_BTD - self._kept.on(resid_BTD, torch.float32)
        ablated_BTD = resid_BTD - removed_BTD.to(resid_BTD.dtype)
        return torch.where(mask_BT[..., None], ablated_BTD, resid_BTD)

    def describe(self) -> dict[str, Any]:
        mode = "zero" if self.mean is None else "mean"
        return {"kind": "ablate", "mode": mode, "k": self.k, "subspace": list(self.names)}
