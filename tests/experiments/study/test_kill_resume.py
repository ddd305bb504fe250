"""``backtrack study run`` killed with SIGKILL mid-step, then rerun: the same study as one run.

A tiny study (two tiny-llama checkpoints whose generations open with a scripted thinking text)
runs once uninterrupted; a second copy is killed -9 while its steering sweep writes generations,
and the same command is run again. Its findings and every deterministic step output must equal
the uninterrupted study's (paths aside).

Run as a module, this file is the study command with scripted generation (see :func:`_drive`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from activation_store.models.tiny import save_tiny_llama
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow

ROOT = REPO_ROOT
STUDY = """
name = "kill-test"
reasoner = "{reasoner}"
base = "{base}"
seeds = [0]
n_trace_prompts = 8
trace_max_new_tokens = 40
layers = [1]
steer_layer = 1
window = "-2:-1"
probe_offsets = "-2:-1"
min_events = 2
probe_models = ["reasoner"]
n_steer_prompts = 4
steer_max_new_tokens = 40
alphas = [0.0, 0.2]
headline_alpha = 0.2
n_random = 1
token_baselines = ["Wait"]
token_baseline_kinds = ["embed"]
ablation_directions = ["base_dom", "reasoner_dom"]
ablation_ks = [1]
ablation_n_random = 1
batch_size = 4
probe_max_negatives = 500
probe_n_bootstrap = 50
probe_n_shuffles = 1
perplexity = false
"""
DETERMINISTIC = (
    "seed0/traces.jsonl",
    "seed0/labels.jsonl",
    "seed0/directions/*.safetensors",
    "seed0/directions/*.json",
    "seed0/probes/results.csv",
    "seed0/sweep-s0/plan.json",
    "seed0/sweep-s0/summary.json",
    "seed0/ablation-s0/generations.jsonl",
    "seed0/ablation-s0/summary.json",
    "findings/findings.json",
)
"""Outputs that depend only on the config and the seed (not on timing or the machine)."""


THOUGHT = "First, 5 + 8 = 13. Wait, that is wrong. Hmm, 5 + 8 = 13 is right. So the answer is 13."
"""What every generation opens with: two backtracking sentences, so the tiny random models give
the study labelled events to work on."""


def _cmd(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tests.experiments.study.test_kill_resume", str(config), str(out)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TEST_TORCH_THREADS": "1"}


def _run(config: Path, out: Path) -> None:
    done = subprocess.run(
        _cmd(config, out), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _kill_mid_sweep(config: Path, out: Path) -> int:
    """Start the study and SIGKILL it once the sweep has written some generations; how many."""
    marker = out / "seed0" / "sweep-s0" / "generations.jsonl"
    log = (out.parent / "killed.log").open("w")
    proc = subprocess.Popen(_cmd(config, out), cwd=ROOT, env=_env(), stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 600
        while not (marker.exists() and marker.stat().st_size > 0):
            assert proc.poll() is None, "the study ended before its sweep wrote anything"
            assert time.monotonic() < deadline, "the sweep never started"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    state = json.loads((out / "study.json").read_text())
    assert "seed0/sweep" not in state["steps"], "killed after the sweep had finished"
    assert not (out / "findings").exists()
    return len(marker.read_bytes().splitlines())


def _normalized(path: Path, out: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix in (".json", ".jsonl", ".csv"):
        data = data.replace(str(out).encode(), b"OUT")
    if path.name == "generations.jsonl":  # one line per generation, in the order they finished
        data = b"".join(sorted(data.splitlines(keepends=True)))
    return data


def test_a_study_killed_mid_step_resumes_to_the_same_results(tmp_path: Path) -> None:
    models = tmp_path / "models"
    base, reasoner = save_tiny_llama(models / "base", 0), save_tiny_llama(models / "reasoner", 1)
    config = tmp_path / "study.toml"
    config.write_text(STUDY.format(base=base, reasoner=reasoner))
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _run(config, whole)
    written = _kill_mid_sweep(config, killed)
    _run(config, killed)  # the same command again
    state = json.loads((killed / "study.json").read_text())
    assert set(state["steps"]) == set(json.loads((whole / "study.json").read_text())["steps"])
    compared = 0
    for pattern in DETERMINISTIC:
        files = sorted(whole.glob(pattern))
        assert files, pattern
        for a in files:
            b = killed / a.relative_to(whole)
            assert _normalized(a, whole) == _normalized(b, killed), a.relative_to(whole)
            compared += 1
    sweep = "seed0/sweep-s0/generations.jsonl"
    assert 0 < written < len((whole / sweep).read_bytes().splitlines())  # killed mid-step
    assert _normalized(whole / sweep, whole) == _normalized(killed / sweep, killed)
    assert compared >= 10


def _drive(config_path: str, out: str) -> int:
    """``backtrack study run CONFIG --out OUT`` with ``sae = None`` (which TOML cannot say), where
    local checkpoints load as usual and then get the forward hooks of
    :func:`tests.experiments.generation.helpers.scripted`. The study runs its steps in this process
    (``--jobs 1``), so every step sees the hooks."""
    import dataclasses

    from activation_store.models import hf_local, loader
    from experiments.cli import configure_logging, main
    from experiments.study.config import load_study_config
    from experiments.study.runner import in_process, run_study
    from tests.experiments.generation.helpers import scripted

    original, keep = hf_local.load_local_hf, []

    def scripted_load(checkpoint: Any, **kwargs: Any) -> tuple[Any, Any]:
        model, tokenizer = original(checkpoint, **kwargs)
        ids = tokenizer.encode(THOUGHT, add_special_tokens=False)
        hooks = scripted(model, [[*ids, tokenizer.convert_tokens_to_ids("</think>")]])
        hooks.__enter__()
        keep.append(hooks)  # collected, it would remove its hooks
        return model, tokenizer

    hf_local.load_local_hf = scripted_load  # type: ignore[assignment]
    loader.load_local_hf = scripted_load  # type: ignore[assignment]
    configure_logging(verbose=False)
    config = dataclasses.replace(load_study_config(config_path), sae=None)
    run_study(config, out, runner=in_process(main))
    return 0


if __name__ == "__main__":
    sys.exit(_drive(*sys.argv[1:]))
