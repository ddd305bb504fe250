"""Fixtures for the model layer: a saved tiny checkpoint, no network, a seeded RNG."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from activation_store.models.tiny import save_tiny_llama


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test at once (instead of retrying for ~25 s)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny-llama checkpoint (seed 0); tests must not modify it (copy it instead)."""
    return save_tiny_llama(tmp_path_factory.mktemp("ckpt") / "tiny-ckpt", seed=0)


@pytest.fixture
def ckpt_copy(tiny_llama_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the tiny checkpoint that a test may damage."""
    import shutil

    target = tmp_path / "ckpt"
    shutil.copytree(tiny_llama_dir, target)
    yield target
