"""``backtrack compare-directions``: every directory given must hold directions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from activation_store.direction import Direction, save_direction
from experiments.cli import main


def _direction_dir(tmp_path: Path) -> Path:
    full = tmp_path / "full"
    for name in ("a", "b"):
        save_direction(
            Direction(name=name, vector=torch.randn(8), model="m", hook="h", kind="x"), full
        )
    return full


@pytest.mark.parametrize("with_full", [False, True])
def test_an_empty_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], with_full: bool
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    dirs = [str(_direction_dir(tmp_path)), str(empty)] if with_full else [str(empty)]
    assert main(["compare-directions", *dirs, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert f"no directions in {str(empty)!r}" in err
    assert not (tmp_path / "out").exists()
