"""TOML configs, option overrides, and the ``backtrack steer`` command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activation_store.core.configs import ConfigError, load_config
from experiments.cli import main
from experiments.steering.runs.config import AblationConfig, SweepConfig
from experiments.study.config import BUILTIN
from tests.paths import REPO_ROOT

from ..helpers import write_inputs


def test_toml_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(
        'models = ["r", "b"]\nmodel_labels = ["reasoner", "base"]\ndirections_dir = "d"\n'
        'alphas = [0, 4, -4]\nalpha_unit = "mean_resid_norm"\n'
    )
    config = load_config(SweepConfig, path, max_new_tokens=32, alphas=None)
    assert config.labels == ("reasoner", "base")
    assert config.alphas == (0.0, 4.0, -4.0) and config.max_new_tokens == 32
    path.write_text('models = ["r"]\ndirections_dir = "d"\nalpha = [1]\n')
    with pytest.raises(ConfigError, match="unknown field"):
        load_config(SweepConfig, path)
    path.write_text("models = [")
    with pytest.raises(Exception, match="not valid TOML"):
        load_config(SweepConfig, path)


def test_config_checks_name_the_field() -> None:
    with pytest.raises(ConfigError, match="models is empty"):
        SweepConfig(directions_dir="d")
    with pytest.raises(ConfigError, match="identical greedy runs"):
        SweepConfig(models=("m",), directions_dir="d", seeds=(0, 1))
    with pytest.raises(ConfigError, match="ks"):
        AblationConfig(models=("m",), directions_dir="d", ks=(0,))
    with pytest.raises(Exception, match="positions"):
        SweepConfig(models=("m",), directions_dir="d", positions="middle")


def test_shipped_configs_parse() -> None:
    configs = REPO_ROOT / "experiments" / "configs"
    study_configs = {f"{name}.toml" for name in BUILTIN}  # whole-study configs (tests/study)
    for path in sorted(configs.glob("*.toml")):
        if path.name in study_configs:
            continue
        cls = AblationConfig if "ablat" in path.name else SweepConfig
        load_config(cls, path)


@pytest.mark.slow
def test_cli_runs_a_sweep_and_reports_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_inputs(tmp_path)
    toml = tmp_path / "s.toml"
    toml.write_text(
        f'models = ["tiny-llama"]\ndirections_dir = "{root / "dirs"}"\n'
        f'prompts = "{root / "prompts.jsonl"}"\nalphas = [0, 6]\nn_random = 1\n'
        "token_baselines = []\nn_bootstrap = 100\n"
    )
    out = tmp_path / "run"
    args = ["steer", "sweep", "--config", str(toml), "--out", str(out), "--no-progress"]
    assert main([*args, "--max-new-tokens", "4", "--n-prompts", "2"]) == 0
    assert "new generations" in capsys.readouterr().out
    stored = json.loads((out / "config.json").read_text())["config"]
    assert stored["max_new_tokens"] == 4 and stored["alphas"] == [0.0, 6.0]
    assert main([*args, "--max-new-tokens", "5", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "different config" in err and "\n" not in err
