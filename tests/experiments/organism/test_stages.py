"""Pipeline stages on the tiny Llama: export + merge, evaluation, SAE training, the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from activation_store.models import ModelConfig, load_hf_model, smollm2, tiny_tokenizer
from experiments.cli import main
from experiments.organism import finetune as ft
from experiments.organism.chat import encode_trace, reasoner_tokenizer
from experiments.organism.config import EvalConfig, FinetuneConfig, SaeConfig
from experiments.organism.families import make_problems
from experiments.organism.traces import TraceConfig, make_traces


@pytest.fixture(scope="module")
def traces():  # type: ignore[no-untyped-def]
    return make_traces(make_problems(24, seed=0), TraceConfig(n_traces=24))


@pytest.mark.gguf
def test_exported_fp16_adapter_merges_into_the_base(traces, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from safetensors.torch import load_file

    from experiments.organism.export import export_adapter

    tokenizer = reasoner_tokenizer(tiny_tokenizer())
    examples = [encode_trace(tokenizer, t) for t in traces[:8]]
    config = FinetuneConfig(base_model="tiny-llama", lora_r=4, batch_size=4, learning_rate=1e-2)
    ft.finetune(examples, config, tmp_path / "run", traces_digest="d", progress=False)
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "__init__.py").write_text('"""Package data."""\n')
    (tmp_path / "adapter" / smollm2.ORGANISM_FILE).write_text("{}")
    out = export_adapter(tmp_path / "run", tmp_path / "adapter", {"command": "test"})
    assert (out / "__init__.py").read_text() == '"""Package data."""\n'  # kept when replaced
    weights = load_file(out / "adapter_model.safetensors")
    assert weights and all(w.dtype == torch.float16 for w in weights.values())
    record = json.loads((out / smollm2.ORGANISM_FILE).read_text())
    assert record["base_sha256"] == smollm2.base_digest() and record["command"] == "test"

    base, _ = load_hf_model(ModelConfig(model="tiny-llama"))
    trained = ft.lora_model(load_hf_model(ModelConfig(model="tiny-llama"))[0], config)
    ft.load_checkpoint(tmp_path / "run", trained)
    merged = smollm2.merge_adapter(base, out)
    ids = torch.tensor([examples[0].input_ids])
    with torch.no_grad():
        expected = trained.eval()(ids).logits
        torch.testing.assert_close(merged(ids).logits, expected, atol=2e-3, rtol=0)


def test_evaluation_scores_and_calibrates(traces, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from experiments.organism.eval_stage import run_eval_stage

    config = EvalConfig(
        eval_models=("tiny-llama",), eval_problems=6, eval_max_new_tokens=6, norm_layers=(1, 3)
    )
    results = run_eval_stage(tmp_path, traces, config, adapter=None)
    figures = results["figures"]["tiny-llama"]
    assert figures["n_traces"] == 6 and 0 <= figures["accuracy"]["mean"] <= 1
    norms = results["calibration"]["mean_resid_norm"]["tiny-llama"]
    assert set(norms) == {"blocks.1.hook_resid_post", "blocks.3.hook_resid_post"}
    assert all(v > 0 for v in norms.values())
    directions = results["calibration"]["direction_norms"]
    assert {tuple(d["window"]) for d in directions} == {(-12, -8), (-4, -1)}
    assert any(d["n_events"] > 0 and d["norm"] > 0 for d in directions)
    rows = (tmp_path / "eval" / "samples.jsonl").read_text().splitlines()
    assert len(rows) == 6 and json.loads(rows[0])["model"] == "tiny-llama"


def test_mean_resid_norm_matches_a_direct_computation() -> None:
    from experiments.organism.norms import mean_resid_norms

    model, _ = load_hf_model(ModelConfig(model="tiny-llama"))
    ids = [5, 9, 17, 33, 2, 8]
    with torch.no_grad():
        h = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[2][0]
    expected = float(h[2:].norm(dim=-1).mean())
    assert math.isclose(mean_resid_norms(model, [(ids, 2)], [1])[1], expected, rel_tol=1e-6)


@pytest.mark.slow
def test_sae_stage_trains_saves_and_resumes(traces, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sae_lens import SAE
    from safetensors.torch import load_file

    from experiments.organism.sae_stage import run_sae_stage, sae_name

    config = SaeConfig(sae_model="tiny-llama", sae_layers=(1,), sae_expansion=2, sae_k=4,
                       sae_batch_size=256, sae_epochs=2, sae_general_tokens=1500, sae_eval_sequences=3)  # fmt: skip
    results = run_sae_stage(tmp_path, traces, config, ship=False)
    directory = tmp_path / "sae" / sae_name(config, 1)
    metrics = results[sae_name(config, 1)]["metrics"]
    assert metrics["hook"] == "blocks.1.hook_resid_post" and metrics["d_sae"] == 128
    assert 0 < metrics["l0"] <= 4 and all(
        math.isfinite(v) for v in metrics.values() if isinstance(v, float)
    )
    assert all(
        w.dtype == torch.float16 for w in load_file(directory / "sae_weights.safetensors").values()
    )
    sae = SAE.load_from_disk(directory)
    assert (
        sae.cfg.metadata.hook_name == "blocks.1.hook_resid_post"
        and sae.W_dec.dtype == torch.float32
    )
    assert math.isfinite(metrics["ce_recovered_general"])  # measured on general text too
    assert metrics["ce_loss_clean_general"] != metrics["ce_loss_clean"]
    stamp = (directory / "metrics.json").stat().st_mtime_ns
    run_sae_stage(tmp_path, traces, config, ship=False)
    assert (directory / "metrics.json").stat().st_mtime_ns == stamp  # resumed: nothing retrained
    weights = (directory / "sae_weights.safetensors").stat().st_mtime_ns
    (directory / "metrics.json").unlink()
    again = run_sae_stage(tmp_path, traces, config, ship=False)[sae_name(config, 1)]["metrics"]
    assert (directory / "sae_weights.safetensors").stat().st_mtime_ns == weights  # evaluated only
    assert again == metrics


def test_cli_builds_traces_and_refuses_a_changed_recipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "b")
    common = [
        "organism",
        "build",
        "--out",
        out,
        "--stages",
        "traces",
        "--n-traces",
        "12",
        "--n-heldout",
        "5",
    ]
    assert main(common) == 0
    assert len((tmp_path / "b" / "traces" / "train.jsonl").read_text().splitlines()) == 12
    assert main([*common, "--error-rate", "0.3"]) == 2
    assert "error_rate=0.7, now 0.3" in capsys.readouterr().err
    assert main([*common[:4], "--error-rate", "1.5"]) == 2
    assert "error_rate=1.5 must be between 0 and 1" in capsys.readouterr().err


def test_recorded_command_parses_back_to_the_same_configs() -> None:
    import shlex

    from activation_store.core.configs import config_from_args
    from experiments.cli import build_parser
    from experiments.organism.config import BuildConfig
    from experiments.organism.stages import equivalent_command

    classes = (BuildConfig, TraceConfig, FinetuneConfig, EvalConfig, SaeConfig)
    defaults = [cls() for cls in classes]
    assert equivalent_command(*defaults) == "backtrack organism build --out organism-build"
    custom = [
        BuildConfig(out="/tmp/a b", stages=("traces",), ship=True, threads=2),
        TraceConfig(error_rate=0.5, families=("logic", "sequence")),
        FinetuneConfig(learning_rate=2e-4, target_modules=("q_proj",)),
        EvalConfig(eval_temperature=0.0),
        SaeConfig(sae_layers=(3,)),
    ]
    for configs in (defaults, custom):
        argv = shlex.split(equivalent_command(*configs))
        assert argv[:3] == ["backtrack", "organism", "build"]
        args = build_parser().parse_args(argv[1:])
        for config in configs:
            parsed = config_from_args(type(config), args)
            if isinstance(config, BuildConfig):  # which stages run and --ship are not recorded
                parsed = dataclasses.replace(parsed, stages=config.stages, ship=config.ship)
            assert parsed == config


def test_resampling_gives_dead_latents_badly_reconstructed_inputs() -> None:
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig

    from experiments.organism.sae_train import resample_dead

    torch.manual_seed(0)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=16, d_sae=64, k=4, device="cpu"))
    x = torch.randn(200, 16)
    x[:5] *= 20  # five inputs far worse reconstructed than the rest
    dead = torch.zeros(64, dtype=torch.bool)
    dead[[3, 10, 40]] = True
    optimizer = torch.optim.Adam(sae.parameters())
    sae.W_dec.sum().backward()
    optimizer.step()
    before = sae.W_dec.detach().clone()
    assert resample_dead(sae, x, dead, optimizer) == 3
    alive_norm = before[~dead].norm(dim=-1).mean()
    rows = sae.W_dec.detach()[dead]
    torch.testing.assert_close(rows.norm(dim=-1), alive_norm.expand(3))
    torch.testing.assert_close(sae.W_dec.detach()[~dead], before[~dead])
    seeds = (x[:5] - sae.b_dec.detach()) / (x[:5] - sae.b_dec.detach()).norm(dim=-1, keepdim=True)
    cos = (rows / rows.norm(dim=-1, keepdim=True)) @ seeds.T
    assert (cos.max(dim=1).values > 0.999).all()  # each copies one of the worst inputs
    assert (sae.b_enc.detach()[dead] == 0).all()
    assert (optimizer.state[sae.W_dec]["exp_avg"][dead] == 0).all()
    acts = sae.encode(x[:5])
    assert acts[:, dead].gt(0).any()  # a resampled latent fires on the input it copies
    assert resample_dead(sae, x, torch.zeros(64, dtype=torch.bool), optimizer) == 0
