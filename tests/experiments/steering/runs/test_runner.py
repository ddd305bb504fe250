"""End-to-end runs on tiny-llama: results match direct generation, runs resume, bad input fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import experiments.generation as generation
from activation_store.core.configs import ConfigError
from activation_store.core.errors import InputError
from activation_store.direction import load_direction
from activation_store.models import LoadedModel
from experiments.generation import GenerationConfig
from experiments.steering import add_interventions, steer_hf
from experiments.steering.runs.runner import run_experiment

from ..helpers import ablation_config, records, sweep_config, write_inputs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def sweep_run(inputs: Path, tmp_path_factory: pytest.TempPathFactory, device: str) -> Path:
    out = tmp_path_factory.mktemp("runs") / "sweep"
    run_experiment(sweep_config(inputs, groups=("dom0+dom1",), device=device), out, progress=False)
    return out


def test_sweep_writes_every_generation_and_summary(sweep_run: Path) -> None:
    plan = json.loads((sweep_run / "plan.json").read_text())
    # unsteered + (dom0, dom1, random, embed_Wait, unembed_Wait, dom0+dom1) at α=8
    assert len(plan["conditions"]) == 7
    assert set(plan["directions"]) == {  # baselines named as `backtrack directions` names them
        "dom0",
        "dom1",
        "base_L1_random0",
        "base_L1_embed-Wait",
        "base_L1_unembed-Wait",
    }
    assert len(records(sweep_run)) == 7 * 3  # held-out prompts only (p3 is derivation)
    summary = json.loads((sweep_run / "summary.json").read_text())
    cells = {c["cell"]: c for c in summary["cells"]}
    steered = cells["tiny-llama|add|dom0|a=8"]
    assert steered["n_prompts"] == 3 and steered["kinds"] == ["diff_of_means"]
    assert steered["positions_changed"]["generated"] == 3 * 5  # 6 new tokens, first not steered
    assert cells["tiny-llama|none|unsteered|a=0"]["positions_changed"] == {
        "prompt": 0,
        "generated": 0,
    }
    against = {(c["cell"], c["against"]) for c in summary["comparisons"]}
    assert ("tiny-llama|add|dom0|a=8", "random") in against
    assert ("tiny-llama|add|dom0+dom1|a=8", "unsteered") in against
    assert ("tiny-llama|add|base_L1_random0|a=8", "random") not in against
    env = json.loads((sweep_run / "environment.json").read_text())
    assert env["packages"]["torch"] and env["device"].startswith(summary["config"]["device"])


def test_sweep_generations_equal_direct_steered_generation(
    sweep_run: Path, tiny: LoadedModel
) -> None:
    got = records(sweep_run)
    prompt = got[("tiny-llama|none|unsteered|a=0|seed=0", "p0")]
    chat = tiny.tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}], add_generation_prompt=True, tokenize=False
    )
    ids = tiny.tokenizer(chat, add_special_tokens=False)["input_ids"]
    assert len(ids) == prompt["prompt_len"]
    direction = load_direction("dom0", directory=sweep_run / "directions")
    config = GenerationConfig(max_new_tokens=6)
    plain = generation.generate(tiny.hf_model, tiny.tokenizer, [ids], config, progress=False)
    with steer_hf(tiny.hf_model, add_interventions([direction], [8.0])):
        steered = generation.generate(tiny.hf_model, tiny.tokenizer, [ids], config, progress=False)
    assert prompt["generated_ids"] == plain[0].generated_ids
    assert (
        got[("tiny-llama|add|dom0|a=8|seed=0", "p0")]["generated_ids"] == steered[0].generated_ids
    )
    assert steered[0].generated_ids != plain[0].generated_ids


def test_interrupted_run_resumes_to_the_same_result(
    inputs: Path, sweep_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    config = sweep_config(inputs, groups=("dom0+dom1",), device=device)
    real = generation.stream

    def dies_after_four(*args: Any, **kwargs: Any) -> Any:  # killed mid-run, between batches
        for n, finished in enumerate(real(*args, **kwargs)):
            if n == 4:
                raise KeyboardInterrupt
            yield finished

    monkeypatch.setattr(generation, "stream", dies_after_four)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, out, progress=False)
    partial = records(out)
    assert 0 < len(partial) < 21
    with (out / "generations.jsonl").open("a") as fh:
        fh.write('{"condition": "torn')  # a line cut by kill -9
    monkeypatch.setattr(generation, "stream", real)
    result = run_experiment(config, out, resume=True, progress=False)
    assert result.n_new == 21 - len(partial)
    resumed, reference = records(out), records(sweep_run)
    assert resumed.keys() == reference.keys()
    for key, rec in reference.items():
        assert resumed[key]["generated_ids"] == rec["generated_ids"]
        assert resumed[key]["metrics"] == pytest.approx(rec["metrics"])
    assert run_experiment(config, out, resume=True, progress=False).n_new == 0


def test_existing_run_is_never_overwritten(inputs: Path, sweep_run: Path) -> None:
    before = {p.name: p.read_bytes() for p in sweep_run.iterdir() if p.is_file()}
    same = json.loads((sweep_run / "config.json").read_text())["config"]
    with pytest.raises(InputError, match="already holds a run; pass --resume"):
        run_experiment(sweep_config(inputs, **_tuples(same)), sweep_run, progress=False)
    with pytest.raises(InputError, match=r"different config \(alphas"):
        run_experiment(
            sweep_config(inputs, alphas=(0.0, 4.0)), sweep_run, resume=True, progress=False
        )
    after = {p.name: p.read_bytes() for p in sweep_run.iterdir() if p.is_file()}
    assert after == before


def test_bad_input_fails_before_writing(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    wide = write_inputs(tmp_path / "wide", d_model=32)
    with pytest.raises(InputError, match="has d_model 32 but model 'tiny-llama' has 64"):
        run_experiment(sweep_config(wide), out, progress=False)
    deep = write_inputs(tmp_path / "deep", hook="blocks.9.hook_resid_post")
    with pytest.raises(InputError, match="layer 9 out of range"):
        run_experiment(sweep_config(deep), out, progress=False)
    (tmp_path / "unsplit.jsonl").write_text('{"id": "a", "prompt": "Hi"}\n')
    with pytest.raises(InputError, match="no held-out prompts"):
        run_experiment(
            sweep_config(inputs, prompts=str(tmp_path / "unsplit.jsonl")), out, progress=False
        )
    with pytest.raises(ConfigError, match="alphas is empty"):
        sweep_config(inputs, alphas=())
    with pytest.raises(InputError, match="unknown direction"):
        run_experiment(sweep_config(inputs, groups=("dom0+nope",)), out, progress=False)
    assert not out.exists()


def test_ablation_run_tabulates_dose_response(inputs: Path, tmp_path: Path) -> None:
    result = run_experiment(ablation_config(inputs), tmp_path / "ablate", progress=False)
    summary = result.summary
    groups = [c["group"] for c in summary["cells"]]
    assert groups == ["unsteered", "dom0", "dom0+dom1", "dom1", "random1#0", "random2#0"]
    # random subspaces are marked as sweeps mark random directions
    assert [c["kinds"] for c in summary["cells"]][-2:] == [["random"], ["random"]]
    assert summary["cells"][0]["kinds"] == ["none"]
    rows = [r for r in summary["dose_response"] if r["metric"] == "backtracking_sentences"]
    assert [r["k"] for r in rows] == [1, 2]
    assert rows[1]["directions"][0]["group"] == "dom0+dom1"
    assert rows[1]["random"]["n_subspaces"] == 1
    lines = (tmp_path / "ablate" / "interventions.jsonl").read_text().splitlines()
    ablations = [json.loads(line)["interventions"] for line in lines]
    kinds = {iv["kind"] for ivs in ablations for iv in ivs}
    assert kinds == {"ablate"}
    assert all(iv["positions_changed"]["prompt"] > 0 for ivs in ablations for iv in ivs)


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def test_mean_ablation_runs_beside_zero_ablation(inputs: Path, tmp_path: Path) -> None:
    from activation_store.direction import save_direction

    from ..conftest import make_direction

    mean = make_direction("base_L1_mean", seed=3, kind="mean_activation")
    save_direction(mean, inputs / "dirs")
    config = ablation_config(
        inputs,
        directions=("dom0", "dom1"),
        ks=(2,),
        single=False,
        modes=("zero", "mean"),
        mean_direction="base_L1_mean",
    )
    result = run_experiment(config, tmp_path / "ablate", progress=False)
    cells = {(c["operation"], c["group"]) for c in result.summary["cells"]}
    assert {("ablate", "dom0+dom1"), ("mean_ablate", "dom0+dom1")} <= cells
    assert {("ablate", "random2#0"), ("mean_ablate", "random2#0")} <= cells
    modes = {r["mode"] for r in result.summary["dose_response"]}
    assert modes == {"zero", "mean"}
    lines = (tmp_path / "ablate" / "interventions.jsonl").read_text().splitlines()
    described = {iv["mode"] for line in lines for iv in json.loads(line)["interventions"]}
    assert described == {"zero", "mean"}
    with pytest.raises(ConfigError, match="name the mean-activation direction"):
        ablation_config(inputs, modes=("mean",))


def test_run_written_before_the_engine_field_resumes(
    inputs: Path, sweep_run: Path, tmp_path: Path, device: str
) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(sweep_run, old)
    stored = json.loads((old / "config.json").read_text())
    del stored["config"]["engine"]
    (old / "config.json").write_text(json.dumps(stored))
    config = sweep_config(inputs, groups=("dom0+dom1",), device=device)
    assert run_experiment(config, old, resume=True, progress=False).n_new == 0
    with pytest.raises(InputError, match=r"different config \(engine"):
        run_experiment(
            sweep_config(inputs, groups=("dom0+dom1",), device=device, engine="vllm"),
            old,
            resume=True,
            progress=False,
        )


def test_vllm_engine_refuses_generated_positions_before_writing(
    inputs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    config = sweep_config(inputs, engine="vllm", positions="generated")
    with pytest.raises(InputError, match="vLLM engine cannot steer positions 'generated'"):
        run_experiment(config, out, progress=False)
    with pytest.raises(InputError, match=r"steers only at blocks\.L\.hook_resid_post"):
        run_experiment(sweep_config(inputs, engine="vllm", hooks=("blocks.1.hook_mlp_out",)), out)
    assert not out.exists()
