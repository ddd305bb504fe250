"""Preflight catches an SAE paired with the wrong model, layer or width."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from activation_store.core.errors import InputError, StoreError
from activation_store.reader import ActivationStore
from sae_analysis.config import DecomposeConfig
from sae_analysis.loading import LoadedSae
from sae_analysis.preflight import preflight
from tests.sae_analysis.helpers import build_store, span_sae, token_table


def _loaded(sae, **kw) -> LoadedSae:
    fields = {
        "sae": sae,
        "sae_id": "test-sae",
        "source": "directory",
        "architecture": "standard",
        "hook_name": sae.cfg.metadata.hook_name,
        "model_name": sae.cfg.metadata.model_name,
        "metadata_model_name": sae.cfg.metadata.model_name,
    }
    return LoadedSae(**{**fields, **kw})


def test_matching_sae_passes(planted_store, loaded_span, direction) -> None:
    with ActivationStore(planted_store) as store:
        report = preflight(
            loaded_span, direction, store, "base", DecomposeConfig(preflight_rows=300)
        )
    assert report.passed and not report.forced
    assert report.cosine == pytest.approx(1.0, abs=1e-5)
    assert report.explained_variance == pytest.approx(1.0, abs=1e-5)
    assert report.n_rows == 300
    assert report.warnings == ()


def test_sae_of_another_subspace_is_refused_unless_forced(planted_store, direction) -> None:
    """Same width, same hook name in its metadata, wrong 'layer': only reconstruction shows it."""
    wrong, _ = span_sae(seed=99)
    with ActivationStore(planted_store) as store:
        with pytest.raises(
            InputError, match=r"reconstructs 'base' at blocks\.1\.hook_resid_post poorly"
        ) as err:
            preflight(_loaded(wrong), direction, store, "base", DecomposeConfig())
        assert "\n" not in str(err.value) and "--force" in str(err.value)
        report = preflight(_loaded(wrong), direction, store, "base", DecomposeConfig(force=True))
    assert report.forced and not report.passed
    assert report.explained_variance < 0.8
    assert any("poorly (forced)" in w for w in report.warnings)


def test_hook_mismatch(planted_store, span, direction) -> None:
    sae, _ = span
    other = _loaded(sae, hook_name="blocks.3.hook_resid_post")
    with ActivationStore(planted_store) as store:
        with pytest.raises(
            InputError,
            match=r"trained on blocks\.3\.hook_resid_post but the direction lives at blocks\.1",
        ):
            preflight(other, direction, store, "base", DecomposeConfig())
        report = preflight(other, direction, store, "base", DecomposeConfig(force=True))
    assert report.forced and any("blocks.3" in w for w in report.warnings)


def test_d_in_mismatch(planted_store, direction) -> None:
    wide, _ = span_sae(d_in=48)
    with (
        ActivationStore(planted_store) as store,
        pytest.raises(InputError, match="d_in 48 but model 'base' has d_model 32"),
    ):
        preflight(_loaded(wide), direction, store, "base", DecomposeConfig(force=True))


def test_model_name_mismatch_warns(planted_store, loaded_span, direction) -> None:
    other = dataclasses.replace(loaded_span, model_name="meta-llama/Llama-3.1-8B")
    with ActivationStore(planted_store) as store:
        report = preflight(other, direction, store, "base", DecomposeConfig())
    assert any("trained on 'meta-llama/Llama-3.1-8B'" in w for w in report.warnings)


def test_empty_store(tmp_path: Path, loaded_span, direction) -> None:
    from activation_store.create import create_store

    path = tmp_path / "empty.h5"
    create_store(path, token_table(n_seqs=2), tokenizer_id="tok", config={})
    with (
        ActivationStore(path) as store,
        pytest.raises(StoreError, match="run `backtrack cache` first"),
    ):
        preflight(loaded_span, direction, store, "base", DecomposeConfig())


def test_store_without_the_hook(tmp_path: Path, loaded_span, direction) -> None:
    import numpy as np

    tokens = token_table(n_seqs=2)
    path = build_store(
        tmp_path / "s.h5",
        tokens,
        {"base": np.zeros((tokens.n_tokens, 32), np.float32)},
        hook="blocks.0.hook_resid_post",
    )
    with (
        ActivationStore(path) as store,
        pytest.raises(StoreError, match=r"hook 'blocks\.1\.hook_resid_post'"),
    ):
        preflight(loaded_span, direction, store, "base", DecomposeConfig())
