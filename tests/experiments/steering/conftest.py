"""Fixtures for the steering tests: tiny-llama on both paths (HF + TransformerLens), directions."""

from __future__ import annotations

import pytest
import torch

from activation_store.direction import Direction
from activation_store.models import LoadedModel, ModelConfig, load_model

HOOK = "blocks.1.hook_resid_post"
PROMPTS = (
    "Wait, 17 × 25 = 425. Hmm, let me check that again.",
    "But wait, the area is 30.",
    "Let me think.",
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny(device: str) -> LoadedModel:
    """tiny-llama with its Hugging Face twin (``.hf_model``); tests must not change its weights."""
    loaded = load_model(ModelConfig(model="tiny-llama", device=device), keep_hf_model=True)
    assert loaded.hf_model is not None
    return loaded


@pytest.fixture(scope="session")
def tiny_gpt(device: str) -> LoadedModel:
    """tiny-gpt (GPT-2 layout: learned positions, tuple block outputs) with its HF twin."""
    return load_model(ModelConfig(model="tiny-gpt", device=device), keep_hf_model=True)


def make_direction(
    name: str = "dir", seed: int = 1, hook: str = HOOK, d_model: int = 64, **kwargs: object
) -> Direction:
    """A random direction with norm ~8 at ``hook`` (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    vector = torch.randn(d_model, generator=generator)
    return Direction(
        name=name,
        vector=vector,
        model="base",
        hook=hook,
        kind=str(kwargs.pop("kind", "diff_of_means")),
        mean_resid_norm=kwargs.pop("mean_resid_norm", 3.0),  # type: ignore[arg-type]
    )


def encode(tiny: LoadedModel, texts: tuple[str, ...] = PROMPTS) -> list[list[int]]:
    return [tiny.tokenizer(t)["input_ids"] for t in texts]


def left_pad(
    rows: list[list[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), left-padded."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)
