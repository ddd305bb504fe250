"""The study's dry run: models, SAE and layers checked from config files only; time and disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activation_store.models.tiny import save_tiny_llama
from experiments.study import check as check_module
from experiments.study.check import check_study
from experiments.study.config import StudyConfig, load_study_config
from experiments.study.costs import MEASURED
from experiments.study.shapes import SPEC_CONFIGS, model_shape
from tests.sae_analysis.helpers import random_sae


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny Llama checkpoints (base, reasoner) and a tiny sae_lens SAE for layer 1."""
    root = tmp_path_factory.mktemp("study_check")
    paths = {
        "base": save_tiny_llama(root / "base", seed=0),
        "reasoner": save_tiny_llama(root / "reasoner", seed=1),
        "sae": root / "sae",
    }
    random_sae(d_in=64, d_sae=128, hook_name="blocks.1.hook_resid_post").save_model(paths["sae"])
    return paths


def study(paths: dict[str, Path], **overrides: object) -> StudyConfig:
    values: dict[str, object] = {
        "reasoner": str(paths["reasoner"]),
        "base": str(paths["base"]),
        "sae": str(paths["sae"]),
        "layers": (1, 3),
        "steer_layer": 1,
        "n_trace_prompts": 8,
        "n_steer_prompts": 4,
    }
    values.update(overrides)
    return StudyConfig(**values)  # type: ignore[arg-type]


def test_tiny_checkpoints_pass(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    result = check_study(study(checkpoints), out=tmp_path)
    assert result.ok, result.problems
    steps = [e.step for e in result.estimates]
    assert steps[:3] == ["traces", "cache-base", "cache-reasoner"]
    assert {"sweep", "ablation", "probes"} <= set(steps)
    assert all(e.bytes >= 0 for e in result.estimates) and result.total_bytes > 0
    text = "\n".join(result.lines())
    assert "ok: the config can run here" in text and "cache-base" in text
    assert "d_in 64" in text and "blocks.1.hook_resid_post" in text


def test_store_estimate_is_exact_arithmetic(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    result = check_study(
        study(checkpoints, n_trace_prompts=10, trace_max_new_tokens=100), out=tmp_path
    )
    cache = next(e for e in result.estimates if e.step == "cache-base")
    rows = cache.tokens
    assert cache.bytes == rows * (2 * 64 * 2 + 8)  # 2 layers × d_model 64 × float16 + extras
    assert 10 * 100 < rows < 10 * 200  # traces plus their prompts


def test_disk_estimate_scales_with_seeds(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    one = check_study(study(checkpoints, seeds=(0,)), out=tmp_path)
    three = check_study(study(checkpoints, seeds=(0, 1, 2)), out=tmp_path)
    assert three.total_bytes == pytest.approx(3 * one.total_bytes, rel=1e-6)
    assert three.total_seconds == pytest.approx(3 * one.total_seconds, rel=1e-6)
    assert three.free_bytes is not None and three.free_bytes > 0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"layers": (1, 4), "steer_layer": 1}, "layers [4] do not exist in the reasoner model (4 blocks: 0..3)"),
        ({"layers": (3,), "steer_layer": 3}, "sae: trained on blocks.1.hook_resid_post, but the study decomposes at blocks.3.hook_resid_post"),
        ({"reasoner": "/nonexistent/R1-Distill"}, "reasoner: model path '/nonexistent/R1-Distill' does not exist"),
        ({"sae": "/nonexistent/sae"}, "sae: SAE directory '/nonexistent/sae' does not exist"),
        ({"base": "smollm2-135m"}, "base and reasoner differ in d_model (576 vs 64)"),
    ],
)  # fmt: skip
def test_each_mistake_is_one_clear_problem(
    checkpoints: dict[str, Path], tmp_path: Path, overrides: dict[str, object], expected: str
) -> None:
    result = check_study(study(checkpoints, **overrides), out=tmp_path)
    assert not result.ok
    assert any(expected in p for p in result.problems), result.problems
    assert all("\n" not in p for p in result.problems)
    assert "NOT OK" in result.lines()[-1]


def test_sae_width_mismatch(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    random_sae(d_in=48, d_sae=96, hook_name="blocks.1.hook_resid_post").save_model(tmp_path / "w")
    result = check_study(study(checkpoints, sae=str(tmp_path / "w")), out=tmp_path)
    assert any("sae: d_in 48 ≠ the base model's d_model 64" in p for p in result.problems)


def test_base_reasoner_width_mismatch(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    wide = tmp_path / "wide"
    save_tiny_llama(wide)
    config = json.loads((wide / "config.json").read_text())
    (wide / "config.json").write_text(json.dumps({**config, "hidden_size": 128}))
    result = check_study(study(checkpoints, base=str(wide)), out=tmp_path)
    assert any("base and reasoner differ in d_model (128 vs 64)" in p for p in result.problems)


def test_llama_scope_raw_format_is_named(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    raw = tmp_path / "L1R"
    raw.mkdir()
    (raw / "hyperparams.json").write_text("{}")
    result = check_study(study(checkpoints, sae=str(raw)), out=tmp_path)
    assert any("Llama Scope's own format" in p for p in result.problems)


def test_not_enough_disk_is_a_problem(
    checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_module, "_free_bytes", lambda out: 1000)
    result = check_study(study(checkpoints), out=tmp_path)
    assert any(p.startswith("disk: the study needs about") for p in result.problems)


def test_missing_gpu_warns_in_a_dry_run_and_fails_a_run(
    checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = study(checkpoints, device="cuda", dtype="bfloat16")
    dry = check_study(config, out=tmp_path)
    assert dry.ok and any("no CUDA GPU is visible" in w for w in dry.warnings)
    assert next(e for e in dry.estimates if e.step == "sweep").seconds is not None  # GPU figures
    run = check_study(config, out=tmp_path, require_device=True)
    assert any("no CUDA GPU is visible" in p for p in run.problems)


def test_llama_config_loads_and_reports_missing_paths(tmp_path: Path) -> None:
    config = load_study_config("llama31_8b_r1_distill")
    assert (config.device, config.dtype, config.steer_layer) == ("cuda", "bfloat16", 10)
    assert config.seeds == (0, 1, 2) and config.window == "-12:-8"
    result = check_study(config, out=tmp_path)
    if Path(config.reasoner).exists():
        pytest.skip("the real checkpoints are on this machine")
    assert not result.ok
    assert any(config.reasoner in p for p in result.problems)
    assert any(config.base in p for p in result.problems)
    assert any(str(config.sae) in p for p in result.problems)
    assert result.lines()[-1].startswith("NOT OK")


def test_llama_config_estimates_with_llama_shapes(tmp_path: Path) -> None:
    """Config-only stand-ins of the real checkpoints: the estimate uses the H200 figures as is."""
    values = {
        "architectures": ["LlamaForCausalLM"], "vocab_size": 128256, "hidden_size": 4096,
        "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "tie_word_embeddings": False,
    }  # fmt: skip
    assert model_shape("x", values, "t").n_params == MEASURED["cuda"].reference_params
    for name in ("R1", "Llama-3.1-8B"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(values))
        (tmp_path / name / "model.safetensors").write_bytes(b"")
        (tmp_path / name / "tokenizer.json").write_text("{}")
    config = load_study_config(
        "llama31_8b_r1_distill",
        reasoner=str(tmp_path / "R1"),
        base=str(tmp_path / "Llama-3.1-8B"),
        sae=None,
    )
    result = check_study(config, out=tmp_path)
    assert not any("scaled" in n for n in result.notes)
    cache = next(e for e in result.estimates if e.step == "cache-base")
    assert cache.bytes > 20e9  # 3 seeds × 300 traces × ~1030 tokens × 3 layers × 8 kB


def test_spec_table_matches_the_tiny_models() -> None:
    from activation_store.models.tiny import tiny_gpt_hf, tiny_llama_hf

    for name, build in (("tiny-llama", tiny_llama_hf), ("tiny-gpt", tiny_gpt_hf)):
        model = build(0)
        shape = model_shape(name, SPEC_CONFIGS[name], "spec")
        assert shape.n_params == sum(p.numel() for p in model.parameters())
        assert shape.d_model == model.config.hidden_size
        assert shape.vocab_size == model.config.vocab_size


def test_unembedding_baselines_of_a_tied_model_are_refused(tmp_path: Path) -> None:
    """SmolLM2 ties its embeddings: each word has one token baseline, so unembed-WORD would be
    missing when the sweep starts (after traces, caching and probes)."""
    tied = StudyConfig(token_baseline_kinds=("embed", "unembed"), sae=None)
    result = check_study(tied, out=tmp_path, require_device=False)
    assert any("drop unembed from token_baseline_kinds" in p for p in result.problems)
    fine = check_study(StudyConfig(token_baseline_kinds=("embed",), sae=None), out=tmp_path)
    assert not any("token_baseline_kinds" in p for p in fine.problems)
