from __future__ import annotations

from typing import Any

import pytest

from activation_store.models import ModelConfig, load_hf_model
from experiments.prompts import load_prompts


@pytest.fixture(scope="package")
def tiny(device: str) -> tuple[Any, Any]:
    return load_hf_model(ModelConfig(model="tiny-llama", device=device))


@pytest.fixture(scope="package")
def problems() -> list[Any]:
    """Six short built-in prompts of three categories."""
    return load_prompts("reasoning-v1", categories=["arithmetic", "parity", "logic"])[::20]
