"""Sparse reconstruction (OMP): planted recovery, sklearn parity, residual shares, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from activation_store.core.errors import InputError
from sae_analysis.dictionary import decoder_matvec, decoder_norms
from sae_analysis.methods.sparse import sparse_reconstruction


def _decoder(seed: int, d_sae: int = 256, d_in: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(d_sae, d_in, generator=g) * (0.5 + torch.rand(d_sae, 1, generator=g))


@pytest.mark.parametrize("seed", range(5))
def test_planted_combination_is_recovered_exactly(seed: int) -> None:
    W = _decoder(seed)
    rng = np.random.default_rng(seed)
    planted = rng.choice(256, size=4, replace=False).tolist()
    coefs = [2.0, -1.5, 1.0, 0.7]
    v = sum(c * W[i] for c, i in zip(coefs, planted, strict=True))
    result = sparse_reconstruction(W, v, k_max=10)
    assert result.stop_reason == "exact"
    assert sorted(result.indices) == sorted(planted)
    got = dict(zip(result.indices, result.coefficients, strict=True))
    np.testing.assert_allclose([got[i] for i in planted], coefs, rtol=1e-5)
    assert result.unexplained_share < 1e-10
    assert result.explained_variance[-1] == pytest.approx(1.0, abs=1e-10)
    torch.testing.assert_close(result.reconstruction, v, rtol=1e-5, atol=1e-5)


def test_matches_sklearn_orthogonal_mp() -> None:
    from sklearn.linear_model import orthogonal_mp

    W = _decoder(7)
    v = torch.randn(64, generator=torch.Generator().manual_seed(8))
    result = sparse_reconstruction(W, v, k_max=12)
    atoms = (W / W.norm(dim=1, keepdim=True)).double().numpy().T
    for k in (1, 2, 5, 12):
        ref = orthogonal_mp(atoms, v.double().numpy(), n_nonzero_coefs=k)
        support = np.flatnonzero(ref)
        assert sorted(support.tolist()) == sorted(result.indices[:k])
        ours = {
            i: c * n
            for i, c, n in zip(
                result.indices, result.coefficients_by_k[k - 1], result.decoder_norms, strict=False
            )
        }
        np.testing.assert_allclose([ours[i] for i in support], ref[support], rtol=1e-5, atol=1e-7)


def test_explained_variance_is_the_squared_cosine_and_grows() -> None:
    W = _decoder(3)
    v = torch.randn(64, generator=torch.Generator().manual_seed(4))
    result = sparse_reconstruction(W, v, k_max=20)
    ev = np.array(result.explained_variance)
    assert np.all(np.diff(ev) >= -1e-12)
    fit = result.reconstruction.double()
    cos_sq = float(fit @ v.double()) ** 2 / float(fit @ fit) / float(v.double() @ v.double())
    assert ev[-1] == pytest.approx(cos_sq, rel=1e-6)
    assert result.unexplained_share == pytest.approx(1 - ev[-1], abs=1e-9)


def test_direction_in_span_vs_orthogonal_to_every_row(span) -> None:
    sae, basis = span
    W = sae.W_dec.detach().cpu()
    inside = sparse_reconstruction(W, 2 * basis[0] - basis[3] + 0.5 * basis[5], k_max=8)
    assert inside.unexplained_share < 1e-10
    outside = sparse_reconstruction(W, basis[20] + basis[25], k_max=8)
    assert outside.stop_reason == "orthogonal"
    assert outside.steps == 0
    assert outside.unexplained_share == pytest.approx(1.0)


def test_bfloat16_decoder_is_read_in_chunks_without_copy() -> None:
    W = _decoder(1, d_sae=1000, d_in=32).to(torch.bfloat16)
    x = torch.randn(32)
    np.testing.assert_allclose(
        decoder_matvec(W, x, chunk_rows=96).numpy(), (W.float() @ x).numpy(), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        decoder_norms(W, chunk_rows=96).numpy(), W.float().norm(dim=1).numpy(), rtol=1e-6
    )
    result = sparse_reconstruction(W, W[5].float() - W[9].float(), k_max=4)
    assert sorted(result.indices) == [5, 9]


@pytest.mark.parametrize(
    ("vector", "k_max", "match"),
    [
        (torch.zeros(64), 4, "zero norm"),
        (torch.ones(64), 257, "k_max=257"),
        (torch.ones(64), 0, "k_max=0"),
        (torch.ones(32), 4, "d_in is 64"),
    ],
)
def test_bad_input_is_one_line(vector: torch.Tensor, k_max: int, match: str) -> None:
    with pytest.raises(InputError, match=match) as err:
        sparse_reconstruction(_decoder(0), vector, k_max=k_max)
    assert "\n" not in str(err.value)
