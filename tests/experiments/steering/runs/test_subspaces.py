"""Variance-matched random subspaces, residual shares, and the store's activation moments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from activation_store.core.errors import InputError
from activation_store.create import HookEntry, ModelEntry, create_store, prepare_model
from activation_store.labels import write_label
from activation_store.tokens import TokenTable
from activation_store.writer import ActivationWriter
from experiments.steering.interventions.operators import orthonormal_basis, random_subspace
from experiments.steering.runs.subspaces import VarianceMatcher, projected_variance, residual_share
from probes.moments import store_moments

D = 48


def _covariance(seed: int = 0) -> np.ndarray:
    """A strongly anisotropic covariance (eigenvalues falling by e every 6 dimensions)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((D, D)))
    return (u * np.exp(-np.arange(D) / 6.0)) @ u.T


@pytest.mark.parametrize("scale", [0.3, 3.0, 5.5])
def test_variance_matched_subspaces_hold_the_target_variance(scale: float) -> None:
    cov = _covariance()
    isotropic = [projected_variance(random_subspace(D, 3, s), cov) for s in range(40)]
    target = scale * float(np.mean(isotropic))
    matcher = VarianceMatcher(cov)
    bases = [matcher.draw(3, target, seed, tolerance=0.05)[0] for seed in range(8)]
    for basis in bases:
        assert torch.allclose(basis @ basis.T, torch.eye(3), atol=1e-5)
        assert abs(projected_variance(basis, cov) - target) <= 0.05 * target
    assert not torch.allclose(bases[0], bases[1])  # every seed its own subspace
    # the control this replaces misses the target: isotropic subspaces rarely come close
    near = [abs(v - target) <= 0.05 * target for v in isotropic]
    assert sum(near) <= 0.25 * len(near)


def test_same_seed_gives_the_same_subspace() -> None:
    cov = _covariance()
    a = VarianceMatcher(cov).draw(2, 1.0, 5)[0]
    b = VarianceMatcher(cov).draw(2, 1.0, 5)[0]
    assert torch.equal(a, b)


def test_unreachable_target_is_refused() -> None:
    cov = _covariance()
    top = float(np.linalg.eigvalsh(cov)[-2:].sum())
    with pytest.raises(InputError, match="outside what a 2-subspace can hold"):
        VarianceMatcher(cov).draw(2, 1.5 * top, 0)


def test_residual_share_on_known_moments() -> None:
    mean = np.zeros(D)
    mean[0], mean[1] = 3.0, 4.0  # ‖mean‖ = 5
    cov = np.diag(np.r_[2.0, 1.0, np.full(D - 2, 0.5)])
    e0 = orthonormal_basis(torch.eye(D)[:1])
    share = residual_share(e0, mean, cov)
    assert share["mean_share"] == pytest.approx(3 / 5)
    assert share["mean_component"] == pytest.approx(3.0)
    assert share["variance_share"] == pytest.approx(2.0 / float(np.trace(cov)))
    total = float(np.trace(cov)) + 25.0
    assert share["second_moment_share"] == pytest.approx((2.0 + 9.0) / total)


def write_store(path: Path, acts: np.ndarray, *, key: str = "reasoner") -> Path:
    """A one-hook store of ``acts`` (rows = tokens), every token labelled as thinking but the
    first of each sequence."""
    n_seq, seq_len = 10, len(acts) // 10
    tokens = TokenTable.from_sequences(
        [f"p{i}/t{i}" for i in range(n_seq)], [[5] * seq_len for _ in range(n_seq)]
    )
    create_store(path, tokens, tokenizer_id="tiny", config={"test": "moments"})
    entry = ModelEntry(
        key=key,
        model_id="tiny-llama",
        architecture="LlamaForCausalLM",
        fingerprint="t",
        d_model=acts.shape[1],
        n_layers=2,
        model_dtype="float32",
        tokenizer_id="tiny",
        hooks=(HookEntry(name="blocks.1.hook_resid_post", layer=1, meaning="t", hf_module="-"),),
        store_dtype="float32",
    )
    start = prepare_model(path, entry, mode="new")
    with ActivationWriter(path, key, start_row=start, background=False) as writer:
        writer.submit(0, 0, {"blocks.1.hook_resid_post": torch.from_numpy(acts)})
    write_label(path, "thinking", (tokens.positions >= 1).astype(np.uint8))
    return path


def test_store_moments_equal_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    acts = (rng.standard_normal((200, 8)) * np.arange(1, 9) + 50.0).astype(np.float32)
    path = write_store(tmp_path / "s.h5", acts)
    m = store_moments(path, "reasoner", "blocks.1.hook_resid_post")
    thinking = acts.reshape(10, 20, 8)[:, 1:].reshape(-1, 8).astype(np.float64)
    assert m.n_tokens == len(thinking)
    np.testing.assert_allclose(m.mean, thinking.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(m.covariance, np.cov(thinking.T), rtol=1e-7, atol=1e-9)
    with pytest.raises(InputError, match="no model 'base'"):
        store_moments(path, "base", "blocks.1.hook_resid_post")
