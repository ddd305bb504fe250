"""`backtrack --threads N` limits torch and the BLAS pools; a bad value is one clear line."""

from __future__ import annotations

import pytest
import torch
from threadpoolctl import threadpool_info

from activation_store.core import threads
from activation_store.core.threads import set_threads
from experiments.cli import main


def test_set_threads_limits_torch_and_blas() -> None:
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        torch.set_num_threads(before)
        threads._limits.restore_original_limits()


def test_cli_refuses_zero_threads(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--threads", "0", "prompts"]) == 2
    assert "--threads 0 must be ≥ 1" in capsys.readouterr().err
