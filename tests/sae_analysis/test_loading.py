"""Loading SAEs through sae_lens: directories, built-in names, the pretrained registry (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from activation_store.core.errors import ModelLoadError
from sae_analysis import loading
from sae_analysis.loading import load_sae
from tests.sae_analysis.helpers import HOOK, span_sae

REVISION = "0123456789abcdef0123456789abcdef01234567"


def test_directory_roundtrip(tmp_path: Path) -> None:
    sae, _ = span_sae()
    sae.save_model(tmp_path / "sae")
    loaded = load_sae(tmp_path / "sae")
    assert loaded.source == "directory"
    assert (loaded.d_in, loaded.d_sae, loaded.architecture) == (32, 24, "standard")
    assert loaded.hook_name == HOOK
    assert loaded.model_name == "synthetic-model"
    torch.testing.assert_close(loaded.sae.W_dec, sae.W_dec)
    x = torch.randn(5, 32)
    torch.testing.assert_close(loaded.sae.encode(x), sae.encode(x))


def test_builtin_short_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sae, _ = span_sae()
    sae.save_model(tmp_path / "organism_L1")
    monkeypatch.setattr(loading, "PRETRAINED_DIR", tmp_path)
    assert loading.builtin_sae_names() == ["organism_L1"]
    loaded = load_sae("organism_L1")
    assert loaded.source == "builtin"
    torch.testing.assert_close(loaded.sae.W_dec, sae.W_dec)


@pytest.mark.parametrize("expansion", [8, 2])
@pytest.mark.parametrize("layer", [10, 15])
def test_shipped_organism_saes_load_by_short_name(layer: int, expansion: int) -> None:
    name = f"smollm2-135m-l{layer}r-{expansion}x"
    assert name in loading.builtin_sae_names()
    loaded = load_sae(name)
    assert loaded.source == "builtin" and loaded.architecture == "topk"
    assert (loaded.d_in, loaded.d_sae) == (576, 576 * expansion)
    assert loaded.hook_name == f"blocks.{layer}.hook_resid_post"
    assert loaded.model_name == "smollm2-135m"
    weights = loading.PRETRAINED_DIR / name / "sae_weights.safetensors"
    assert weights.stat().st_size <= 20 * 1024 * 1024
    z = loaded.sae.encode(torch.randn(3, 576) * 10)
    assert ((z > 0).sum(-1) <= 32).all()  # TopK, k = 32


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("no_such_thing", "not a directory, a built-in name"),
        ("llama_scope_lxr_8y:l10r_8x", "unknown sae_lens release.*llama_scope_lxr_8x"),
        ("llama_scope_lxr_8x:l10r_9x", "has no SAE 'l10r_9x'; e.g. l10r_8x"),
    ],
)
def test_bad_names_are_one_line(spec: str, match: str) -> None:
    with pytest.raises(ModelLoadError, match=match) as err:
        load_sae(spec)
    assert "\n" not in str(err.value)


def test_directory_without_cfg(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"no cfg\.json"):
        load_sae(tmp_path / "empty")


def test_pretrained_not_in_cache_names_release_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError) as err:
        load_sae("llama_scope_lxr_8x:l10r_8x")
    message = str(err.value)
    assert "llama_scope_lxr_8x:l10r_8x" in message
    assert str(tmp_path / "models--fnlp--Llama3_1-8B-Base-LXR-8x" / "snapshots") in message
    assert "Llama3_1-8B-Base-L10R-8x" in message
    assert "\n" not in message


def _fake_snapshot(cache: Path, repo_id: str) -> Path:
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    return repo / "snapshots" / REVISION


def _raw_weights(d_in: int, d_sae: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "encoder.weight": torch.randn(d_sae, d_in, generator=g),
        "decoder.weight": torch.randn(d_in, d_sae, generator=g),
        "encoder.bias": torch.randn(d_sae, generator=g),
        "decoder.bias": torch.randn(d_in, generator=g),
    }


def test_r1_distill_release_from_local_cache_warns_about_its_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama_scope_r1_distill's sae_lens metadata names Llama-3.1-8B; the release is the R1 distill."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    folder = (
        _fake_snapshot(tmp_path, "fnlp/Llama-Scope-R1-Distill")
        / "800M-Slimpajama-0-OpenR1-Math-220k/L10R"
    )
    folder.mkdir(parents=True)
    config = {"d_model": 16, "expansion_factor": 2, "hook_point_in": "blocks.10.hook_resid_post"}
    (folder / "config.json").write_text(json.dumps(config))
    raw = _raw_weights(16, 32)
    raw["log_jumprelu_threshold"] = torch.full((32,), -1.0)
    save_file(raw, str(folder / "sae_weights.safetensors"))

    loaded = load_sae("llama_scope_r1_distill:l10r_800m_slimpajama")
    assert loaded.source == "pretrained"
    assert loaded.architecture == "jumprelu"
    assert loaded.hook_name == "blocks.10.hook_resid_post"
    assert loaded.model_name == "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
    assert loaded.metadata_model_name == "meta-llama/Llama-3.1-8B"
    assert any("names model 'meta-llama/Llama-3.1-8B'" in w for w in loaded.warnings)
    # sae_lens folds the registry's norm scaling factor into the weights
    scale = 8.187374613072596
    torch.testing.assert_close(
        loaded.sae.W_dec * scale, raw["decoder.weight"].T, rtol=1e-5, atol=1e-5
    )


def test_llama_scope_base_release_from_local_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    folder = _fake_snapshot(tmp_path, "fnlp/Llama3_1-8B-Base-LXR-8x") / "Llama3_1-8B-Base-L10R-8x"
    (folder / "checkpoints").mkdir(parents=True)
    hyper = {
        "d_model": 16,
        "d_sae": 32,
        "hook_point_in": "blocks.10.hook_resid_post",
        "jump_relu_threshold": 0.5,
        "dataset_average_activation_norm": {"in": 4.0},
    }
    (folder / "hyperparams.json").write_text(json.dumps(hyper))
    save_file(_raw_weights(16, 32), str(folder / "checkpoints" / "final.safetensors"))
    loaded = load_sae("llama_scope_lxr_8x:l10r_8x")
    assert loaded.model_name == "meta-llama/Llama-3.1-8B"
    assert loaded.warnings == ()
    assert (loaded.d_in, loaded.d_sae) == (16, 32)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when no GPU is visible")
def test_missing_gpu_is_one_line(tmp_path: Path) -> None:
    sae, _ = span_sae()
    sae.save_model(tmp_path / "sae")
    with pytest.raises(ModelLoadError, match="no CUDA GPU is visible"):
        load_sae(tmp_path / "sae", device="cuda")
