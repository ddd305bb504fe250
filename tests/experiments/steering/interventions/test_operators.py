"""Operators against plain linear-algebra oracles."""

from __future__ import annotations

import pytest
import torch

from activation_store.core.errors import InputError
from experiments.steering.interventions.from_directions import ablation_operator, steering_term
from experiments.steering.interventions.operators import (
    AblateThenAdd,
    AddVectors,
    ProjectOut,
    orthonormal_basis,
    random_subspace,
)

from ..conftest import make_direction


def _resid() -> torch.Tensor:
    return torch.randn(2, 5, 64)


def test_add_matches_oracle_and_respects_mask() -> None:
    a, b = make_direction("a", 1), make_direction("b", 2)
    op = AddVectors([steering_term(a, 4.0), steering_term(b, -2.0, "mean_resid_norm")])
    resid, mask = _resid(), torch.rand(2, 5) > 0.5
    expected = resid + mask[..., None] * (4.0 * a.unit - 2.0 * 3.0 * b.unit)
    torch.testing.assert_close(op(resid, mask), expected)
    assert torch.equal(op(resid, mask)[~mask], resid[~mask])
    raw = AddVectors([steering_term(a, 0.5, "raw")])
    torch.testing.assert_close(raw.delta, 0.5 * a.vector)


def test_projection_removes_span_and_is_idempotent() -> None:
    dirs = [make_direction(str(i), i) for i in range(3)]
    op = ablation_operator(dirs)
    resid, mask = _resid(), torch.ones(2, 5, dtype=torch.bool)
    out = op(resid, mask)
    vectors = torch.stack([d.vector for d in dirs])
    assert (out @ vectors.T).abs().max() < 1e-4
    torch.testing.assert_close(op(out, mask), out)
    # the removed part lies in the span: resid - out = V^T c for some c
    coeffs = torch.linalg.lstsq(vectors.T, (resid - out).reshape(-1, 64).T).solution
    torch.testing.assert_close(
        vectors.T @ coeffs, (resid - out).reshape(-1, 64).T, atol=1e-4, rtol=0
    )


def test_orthonormal_basis_refuses_dependent_directions() -> None:
    a = torch.randn(64)
    with pytest.raises(InputError, match="in the span"):
        orthonormal_basis(torch.stack([a, 2 * a]), ["a", "twice_a"])
    with pytest.raises(InputError, match="orthonormal"):
        ProjectOut(torch.randn(2, 64))


def test_random_subspace_is_seeded_and_orthonormal() -> None:
    q = random_subspace(64, 3, seed=5)
    torch.testing.assert_close(q @ q.T, torch.eye(3), atol=1e-5, rtol=0)
    assert torch.equal(q, random_subspace(64, 3, seed=5))
    assert not torch.equal(q, random_subspace(64, 3, seed=6))


def test_ablate_then_add_sets_the_component() -> None:
    d = make_direction("d", 3)
    op = AblateThenAdd(ablation_operator([d]), AddVectors([steering_term(d, 5.0)]))
    out = op(_resid(), torch.ones(2, 5, dtype=torch.bool))
    torch.testing.assert_close(out @ d.unit, torch.full((2, 5), 5.0), atol=1e-4, rtol=0)


def test_bfloat16_activations_keep_their_dtype() -> None:
    d = make_direction("d", 3)
    resid = _resid().to(torch.bfloat16)
    mask = torch.ones(2, 5, dtype=torch.bool)
    for op in (AddVectors([steering_term(d, 2.0)]), ablation_operator([d])):
        assert op(resid, mask).dtype == torch.bfloat16


def test_mean_resid_norm_unit_needs_the_norm() -> None:
    d = make_direction("d", 3, mean_resid_norm=None)
    with pytest.raises(InputError, match="mean_resid_norm"):
        steering_term(d, 1.0, "mean_resid_norm")


def test_mean_ablation_keeps_the_mean_and_removes_what_varies() -> None:
    from experiments.steering.interventions.operators import ProjectOut, orthonormal_basis

    g = torch.Generator().manual_seed(0)
    basis = orthonormal_basis(torch.randn(2, 16, generator=g))
    mean = torch.randn(16, generator=g) * 5
    x = mean + torch.randn(3, 4, 16, generator=g)
    mask = torch.ones(3, 4, dtype=torch.bool)
    zero, keep = ProjectOut(basis), ProjectOut(basis, mean=mean)
    assert torch.allclose(
        keep(mean.expand(1, 1, 16), mask[:1, :1]), mean.expand(1, 1, 16), atol=1e-5
    )
    # along the span, mean-ablation leaves exactly the mean's component; zero-ablation leaves none
    assert torch.allclose(keep(x, mask) @ basis.T, (mean @ basis.T).expand(3, 4, 2), atol=1e-4)
    assert torch.allclose(zero(x, mask) @ basis.T, torch.zeros(3, 4, 2), atol=1e-4)
    # off the span both leave the activations alone
    off = torch.eye(16) - basis.T @ basis
    assert torch.allclose(keep(x, mask) @ off, x @ off, atol=1e-4)
    assert keep.describe()["mode"] == "mean" and zero.describe()["mode"] == "zero"
