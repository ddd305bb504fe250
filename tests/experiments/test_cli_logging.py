"""The CLI's logging: our packages' progress at INFO, third-party libraries only from WARNING."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.cli import OUR_PACKAGES, configure_logging
from tests.paths import REPO_ROOT

ROOT = REPO_ROOT


@pytest.fixture
def restore_levels():
    names = ["", *OUR_PACKAGES, "transformer_lens"]
    saved = {n: logging.getLogger(n).level for n in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_default_shows_ours_at_info_and_third_party_from_warning(restore_levels) -> None:
    configure_logging(verbose=False)
    assert logging.getLogger().level == logging.WARNING
    for name in OUR_PACKAGES:
        assert logging.getLogger(f"{name}.module").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("transformer_lens").getEffectiveLevel() == logging.WARNING


def test_verbose_shows_everything_at_debug(restore_levels) -> None:
    configure_logging(verbose=True)
    assert logging.getLogger().level == logging.DEBUG
    for name in (*OUR_PACKAGES, "transformer_lens"):
        assert logging.getLogger(f"{name}.module").getEffectiveLevel() == logging.DEBUG


@pytest.mark.slow
def test_a_command_prints_no_third_party_info(tmp_path: Path) -> None:
    tokens = tmp_path / "t.jsonl"
    tokens.write_text('{"id": "a", "text": "Wait, 2 + 2 = 4."}\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "experiments.cli", "cache", "--model", "tiny-llama",
            "--tokens", str(tokens), "--hooks", "blocks.0.hook_resid_post",
            "--out", str(tmp_path / "s.h5")]  # fmt: skip
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=True)
    assert "INFO root" not in run.stderr
    assert "INFO activation_store.capture: caching tiny-llama" in run.stderr
    verbose = subprocess.run(
        [argv[0], "-m", "experiments.cli", "-v", *argv[3:], "--overwrite"],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    ours = ("DEBUG activation_store", "DEBUG experiments", "DEBUG probes", "DEBUG sae_analysis")
    lines = verbose.stderr.splitlines()
    assert any(line.startswith("DEBUG ") and not line.startswith(ours) for line in lines)
