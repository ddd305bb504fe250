"""Small run inputs for the runner tests: a directions directory and a held-out prompt file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from activation_store.direction import save_direction
from experiments.steering.runs.config import AblationConfig, SweepConfig

from .conftest import make_direction

PROMPTS = (
    {"id": "p0", "prompt": "What is 2 + 3?", "answer": 5, "split": "evaluation"},
    {"id": "p1", "prompt": "Is 7 odd?", "answer": "yes", "split": "evaluation"},
    {"id": "p2", "prompt": "Name a colour.", "split": "evaluation"},
    {"id": "p3", "prompt": "What is 9 - 4?", "answer": 5, "split": "derivation"},
)


def write_inputs(root: Path, *, d_model: int = 64, hook: str = "blocks.1.hook_resid_post") -> Path:
    """``root/dirs`` with two directions and ``root/prompts.jsonl`` (3 held-out prompts)."""
    for i in range(2):
        save_direction(
            make_direction(f"dom{i}", seed=10 + i, hook=hook, d_model=d_model), root / "dirs"
        )
    (root / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    return root


def sweep_config(root: Path, **overrides: Any) -> SweepConfig:
    values: dict[str, Any] = {
        "models": ("tiny-llama",),
        "directions_dir": str(root / "dirs"),
        "prompts": str(root / "prompts.jsonl"),
        "alphas": (0.0, 8.0),
        "max_new_tokens": 6,
        "n_random": 1,
        "token_baselines": ("Wait",),
        "batch_size": 2,
        "n_bootstrap": 200,
    }
    values.update(overrides)
    return SweepConfig(**values)


def ablation_config(root: Path, **overrides: Any) -> AblationConfig:
    values: dict[str, Any] = {
        "models": ("tiny-llama",),
        "directions_dir": str(root / "dirs"),
        "prompts": str(root / "prompts.jsonl"),
        "ks": (1, 2),
        "n_random": 1,
        "max_new_tokens": 6,
        "batch_size": 3,
        "n_bootstrap": 200,
    }
    values.update(overrides)
    return AblationConfig(**values)


def records(run_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Generation records by (condition, prompt id)."""
    lines = (run_dir / "generations.jsonl").read_text().splitlines()
    out = {}
    for line in lines:
        obj = json.loads(line)
        out[(obj["condition"], obj["prompt_id"])] = obj
    return out
