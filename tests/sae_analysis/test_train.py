"""Training a small SAE on a store with sae_lens's trainer."""

from __future__ import annotations

from pathlib import Path

import pytest

from activation_store.core.errors import InputError
from sae_analysis.train import TrainConfig, train_sae_on_store
from tests.sae_analysis.helpers import HOOK, MODEL_ID


def test_trained_sae_is_saved_in_sae_lens_format_with_metadata(
    tmp_path: Path, planted_store
) -> None:
    config = TrainConfig(d_sae=32, steps=20, batch_size=64, seed=3)
    loaded = train_sae_on_store(planted_store, "base", HOOK, tmp_path / "sae", config)
    assert (tmp_path / "sae" / "cfg.json").is_file()
    assert (tmp_path / "sae" / "sae_weights.safetensors").is_file()
    assert (loaded.d_in, loaded.d_sae, loaded.architecture) == (32, 32, "standard")
    assert loaded.hook_name == HOOK and loaded.model_name == MODEL_ID
    again = train_sae_on_store(planted_store, "base", HOOK, tmp_path / "again", config)
    assert (again.sae.W_dec == loaded.sae.W_dec).all()  # seeded: same weights


def test_bad_training_input(tmp_path: Path, planted_store) -> None:
    with pytest.raises(InputError, match=r"hook 'blocks\.7\.hook_resid_post' is not cached"):
        train_sae_on_store(
            planted_store, "base", "blocks.7.hook_resid_post", tmp_path / "x", TrainConfig()
        )
    with pytest.raises(InputError, match="fewer than batch_size=100000"):
        train_sae_on_store(
            planted_store, "base", HOOK, tmp_path / "x", TrainConfig(batch_size=100_000)
        )
    with pytest.raises(InputError, match="steps=0"):
        TrainConfig(steps=0)
