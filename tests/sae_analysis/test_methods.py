"""Cosine and encoder views against numpy one-liners; feature-subset encoding against the full SAE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from activation_store.core.errors import InputError
from sae_analysis.methods.cosine import decoder_cosines
from sae_analysis.methods.encoder import encoder_view
from sae_analysis.subset import FeatureEncoder
from tests.sae_analysis.helpers import random_sae, span_sae


def test_cosines_match_numpy() -> None:
    sae = random_sae(d_in=64, d_sae=256, seed=3)
    W = sae.W_dec.detach()
    v = torch.randn(64, generator=torch.Generator().manual_seed(0))
    result = decoder_cosines(W, v, top_k=5, n_null=4, seed=0)
    Wn, vn = W.double().numpy(), v.double().numpy()
    expected = Wn @ vn / np.linalg.norm(Wn, axis=1) / np.linalg.norm(vn)
    np.testing.assert_allclose(result.cosines.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert [f.index for f in result.top_positive] == np.argsort(-expected)[:5].tolist()
    assert [f.index for f in result.top_negative] == np.argsort(expected)[:5].tolist()
    assert len(result.null_max_abs) == 4
    assert all(0 < n < 1 for n in result.null_max_abs)
    np.testing.assert_allclose(result.decoder_norms.numpy(), np.linalg.norm(Wn, axis=1), rtol=1e-6)


def test_cosine_bad_input() -> None:
    W = random_sae(d_in=16, d_sae=32).W_dec.detach()
    with pytest.raises(InputError, match="zero norm"):
        decoder_cosines(W, torch.zeros(16))
    with pytest.raises(InputError, match="d_in is 16"):
        decoder_cosines(W, torch.ones(8))
    with pytest.raises(InputError, match="top_k=33"):
        decoder_cosines(W, torch.ones(16), top_k=33)


def test_encoder_view_matches_relu_of_projections(span) -> None:
    sae, basis = span
    W_enc = sae.W_enc.detach().cpu().double()
    mean = (0.3 * basis[0] - 0.2 * basis[2]).to(sae.W_dec.device)
    v = basis[0] + 0.5 * basis[1]
    view = encoder_view(sae, v, mean_activation=mean, scale=2.0, alphas=(0.5, 1.0), top_k=3)
    unit = (v / v.norm()).double()

    def enc(x: torch.Tensor) -> np.ndarray:
        return np.maximum(x.cpu().double() @ W_enc, 0).numpy()

    np.testing.assert_allclose(view.acts_on_direction.numpy(), enc(2.0 * unit), atol=1e-5)
    for row, alpha in enumerate((0.5, 1.0)):
        expected = enc(mean.double() + alpha * 2.0 * unit) - enc(mean.double())
        np.testing.assert_allclose(view.deltas[row].numpy(), expected, atol=1e-5)
        top = view.responses[row].increased[0]
        assert top.index == int(np.argmax(expected))
    assert view.on_direction[0].index == 0  # basis[0] is feature 0
    assert view.n_active_on_direction == int((enc(2.0 * unit) > 0).sum())


@pytest.mark.parametrize("architecture", ["standard", "jumprelu"])
def test_sliced_sae_equals_full_encode(architecture: str) -> None:
    sae, _ = span_sae(architecture=architecture, seed=2)
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.3)
        if architecture == "jumprelu":
            sae.threshold.fill_(0.2)
    x = torch.randn(50, 32, generator=torch.Generator().manual_seed(1))
    idx = [5, 0, 17, 3]
    encoder = FeatureEncoder(sae, idx)
    assert encoder.sliced
    torch.testing.assert_close(encoder(x), sae.encode(x)[:, idx])


def test_topk_sae_runs_whole() -> None:
    from sae_lens import TopKSAE, TopKSAEConfig

    sae = TopKSAE(TopKSAEConfig(d_in=16, d_sae=40, k=4)).eval()
    x = torch.randn(20, 16, generator=torch.Generator().manual_seed(0))
    encoder = FeatureEncoder(sae, [1, 7, 30])
    assert not encoder.sliced  # top-k couples features: slicing would change which fire
    torch.testing.assert_close(encoder(x), sae.encode(x)[:, [1, 7, 30]])
