"""The study's steps: built from config objects, parsed back by the real CLI into the same configs;
independent random baselines per seed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from activation_store.core.configs import load_config
from experiments.cli import build_parser
from experiments.study.config import StudyConfig, load_study_config
from experiments.study.stages import all_steps, direction_names, seed_steps


@pytest.mark.parametrize("name", ["demo_quick", "organism_full", "llama31_8b_r1_distill"])
def test_every_step_parses_back_into_its_configs(name: str, tmp_path: Path) -> None:
    config = load_study_config(name)
    parser = build_parser()
    for step in all_steps(config, tmp_path):
        args = parser.parse_args(list(step.argv))
        for expected in step.configs:
            # as the commands do: options not given keep the defaults (steer: the TOML's)
            fields = [f.name for f in dataclasses.fields(expected) if hasattr(args, f.name)]
            got = load_config(type(expected), None, **{f: getattr(args, f) for f in fields})
            assert got == expected, (step.id, type(expected).__name__)


def test_random_baselines_are_independent_across_seeds(tmp_path: Path) -> None:
    config = dataclasses.replace(load_study_config("organism_full"), seeds=(0, 1, 2))
    names = [
        {n for role, n in direction_names(config, seed).items() if role.startswith("random")}
        for seed in config.seeds
    ]
    assert all(len(n) == config.n_random for n in names)
    assert not (names[0] & names[1]) and not (names[1] & names[2]) and not (names[0] & names[2])
    subspaces = []
    for seed in config.seeds:
        ablation = next(s for s in seed_steps(config, seed, tmp_path) if s.id.endswith("ablation"))
        first = ablation.configs[0].random_seed  # type: ignore[attr-defined]
        subspaces.append(set(range(first, first + config.ablation_n_random)))
    assert not (subspaces[0] & subspaces[1]) and not (subspaces[1] & subspaces[2])


def test_a_study_without_an_sae_has_no_decomposition_step(tmp_path: Path) -> None:
    steps = all_steps(StudyConfig(sae=None), tmp_path)
    assert not any(s.id.endswith("/sae") for s in steps)
    assert "--sae" not in next(s for s in steps if s.id == "report").argv


def test_the_engine_reaches_traces_sweep_and_ablation_only(tmp_path: Path) -> None:
    from activation_store.core.configs import ConfigError

    hf = {s.id: s.argv for s in all_steps(load_study_config("demo_quick"), tmp_path)}
    vllm = all_steps(load_study_config("demo_quick", engine="vllm"), tmp_path)
    parser = build_parser()
    with_engine = set()
    for step in vllm:
        if "--engine" in step.argv:
            with_engine.add(step.id.split("/")[-1])
            assert step.argv[list(step.argv).index("--engine") + 1] == "vllm"
            assert parser.parse_args(list(step.argv)).engine == "vllm"
        else:
            assert step.argv == hf[step.id], step.id  # forward passes stay on Hugging Face
    assert (
        {"traces", "sweep", "ablation"}
        <= with_engine
        <= {"traces", "heldout-traces", "sweep", "ablation"}
    )
    assert not any("--engine" in argv for argv in hf.values())  # the default writes nothing
    from experiments.study.check import check_study

    refused = check_study(
        load_study_config("demo_quick", engine="vllm", ablation_positions="generated"),
        out=tmp_path,
    )
    assert not refused.ok
    assert any("the vLLM engine cannot steer positions 'generated'" in p for p in refused.problems)
    with pytest.raises(ConfigError, match="engine 'tgi': choose hf or vllm"):
        StudyConfig(engine="tgi")
