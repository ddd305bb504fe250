from __future__ import annotations

from typing import Any

import pytest
import torch

from activation_store.models import ModelConfig, load_hf_model


@pytest.fixture(scope="package")
def tiny(device: str) -> tuple[Any, Any]:
    """The tiny-llama HF model and tokenizer (shared: tests must undo any change they make)."""
    return load_hf_model(ModelConfig(model="tiny-llama", device=device))


@pytest.fixture
def prompts(tiny: tuple[Any, Any]) -> list[list[int]]:
    tok = tiny[1]
    texts = ["What is 3 + 4?", "Wait, let me check the sum of 17 and 25 again.", "Hmm", "The café"]
    return [tok(t)["input_ids"] for t in texts]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
