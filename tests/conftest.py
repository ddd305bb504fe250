"""Shared test setup: never touch the network, one torch thread, a ``--device`` option for GPUs.

``pytest --device cuda`` runs the same tests on a GPU; the default is the CPU.
"""

from __future__ import annotations

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
