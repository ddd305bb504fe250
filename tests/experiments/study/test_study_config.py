"""Study configs: the built-in ones load, bad values are refused with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from activation_store.core.configs import ConfigError
from experiments.study.config import BUILTIN, StudyConfig, load_study_config, resolve_config_path


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_configs_load(name: str) -> None:
    config = load_study_config(name)
    assert config.steer_layer in config.layers
    assert resolve_config_path(name).is_file()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"steer_layer": 7}, "steer_layer 7 is not in layers"),
        ({"alphas": (0.1, 0.2)}, "alphas must contain 0"),
        ({"headline_alpha": 0.3}, "headline_alpha 0.3 must be a positive member"),
        ({"ablation_ks": (4,)}, "ablation_ks [4] must lie in 1..3"),
        ({"seeds": ()}, "seeds is empty"),
        ({"token_baseline_kinds": ("embedding",)}, "choose from embed, unembed"),
    ],
)
def test_bad_values_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        StudyConfig(**fields)  # type: ignore[arg-type]


def test_unknown_keys_and_missing_files_are_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\nlayerz = [3]\n')
    with pytest.raises(ConfigError, match=r"unknown field.*layerz"):
        load_study_config(str(path))
    with pytest.raises(ConfigError, match="neither a file nor a built-in config"):
        load_study_config(str(tmp_path / "missing.toml"))


def test_overrides_replace_file_values() -> None:
    config = load_study_config("demo_quick", seeds=(3, 4), threads=None)
    assert config.seeds == (3, 4)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('seeds = "zero"', r"s\.toml: seeds\[0\] is 'zero'; expected an integer"),
        ('n_steer_prompts = "40"', None),  # digits are taken, as on the command line
        ('n_steer_prompts = "forty"', r"s\.toml: n_steer_prompts is 'forty'; expected an integer"),
        ("perplexity = 1", r"perplexity is 1; expected true or false"),
        ("alphas = [0, 0.2]", None),
        ("threads = 1.5", r"threads is 1\.5; expected an integer or none"),
    ],
)
def test_config_values_are_type_checked_on_load(tmp_path, toml: str, message: str | None) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.toml"
    path.write_text(toml + "\n")
    if message is None:
        load_study_config(str(path))
        return
    with pytest.raises(ConfigError, match=message):
        load_study_config(str(path))


@pytest.mark.parametrize("value", ['"none"', '"None"', '""'])
def test_the_sae_step_can_be_turned_off_in_toml(tmp_path, value: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.toml"
    path.write_text(f"sae = {value}\n")
    assert load_study_config(str(path)).sae is None


def test_the_sae_step_can_be_turned_off_on_the_command_line() -> None:
    """``--sae none`` overrides the TOML's SAE; an option not given leaves it."""
    from experiments.cli import build_parser
    from experiments.study.cli import _overrides

    parser = build_parser()
    off = parser.parse_args(["study", "check", "demo_quick", "--sae", "none"])
    assert load_study_config("demo_quick", **_overrides(off)).sae is None
    kept = parser.parse_args(["study", "check", "demo_quick"])
    assert load_study_config("demo_quick", **_overrides(kept)).sae == "smollm2-135m-l10r-8x"


def test_random_baselines_can_be_read_at_fewer_strengths_and_steered_fewer() -> None:
    from experiments.steering.runs.decisions import DecisionConfig, _plan
    from experiments.study.stages import all_steps, direction_names, sweep_direction_names

    config = StudyConfig(
        n_random=6, sweep_n_random=2, decision_random_alphas=(0.2, 0.4, -0.2), sae=None
    )
    names = direction_names(config, 1)
    sweep = sweep_direction_names(config, 1)
    randoms = [k for k in names if k.startswith("random")]
    assert len(randoms) == 6 and [k for k in sweep if k.startswith("random")] == randoms[:2]
    assert set(sweep) - set(randoms) == set(names) - set(randoms)
    steps = {s.id: s for s in all_steps(config, Path("/tmp/x"))}
    (decision,) = steps["seed0/decisions"].configs
    assert isinstance(decision, DecisionConfig)
    plan = _plan(decision, list(decision.directions))
    per_direction: dict[str, set[float]] = {}
    for c in plan:
        if c.operation == "add":
            per_direction.setdefault(c.directions[0], set()).add(c.alpha)
    random_names = set(decision.baseline_directions)
    assert len(random_names) == 6
    for name, alphas in per_direction.items():
        nonzero = {a for a in config.decision_alphas if a != 0}
        assert alphas == ({0.2, 0.4, -0.2} if name in random_names else nonzero)
    with pytest.raises(ConfigError, match="decision_random_alphas"):
        StudyConfig(decision_random_alphas=(0.4,), sae=None)
    with pytest.raises(ConfigError, match="sweep_n_random"):
        StudyConfig(n_random=3, sweep_n_random=4, sae=None)
