"""Saving a model spec once for vLLM (``model_directory``): no vLLM needed, only transformers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CODE = """
import sys
from experiments.generation.vllm_engine import model_directory
print(model_directory("tiny-llama"))
"""


def test_two_processes_saving_one_spec_at_once_both_get_it(tmp_path: Path) -> None:
    """``study run --jobs 2`` starts two steps that may save the same spec at the same moment:
    each writes a directory of its own, one wins, neither fails, and no temporary is left."""
    env = {**os.environ, "BACKTRACK_CACHE": str(tmp_path), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CODE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e[-2000:] for _, e in outs]
    saved = tmp_path / "vllm" / "tiny-llama"
    assert {o.strip().splitlines()[-1] for o, _ in outs} == {str(saved)}
    assert (saved / "config.json").is_file() and (saved / "tokenizer.json").is_file()
    assert sorted(p.name for p in saved.parent.iterdir()) == ["tiny-llama"]
