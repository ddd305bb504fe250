"""Stores whose HDF5 metadata is damaged, or whose labels group is missing: one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest

from activation_store import h5io
from activation_store.core.errors import StoreError
from activation_store.reader import ActivationStore
from experiments.cli import main
from tests.probes.helpers import planted_store

SIGNATURES = (b"SNOD", b"TREE", b"HEAP")
"""HDF5 metadata blocks: symbol-table nodes, B-tree nodes (groups and chunk indexes), local heaps."""


@pytest.fixture(autouse=True)
def _few_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers retry a second before calling a file damaged; the test needs two tries only."""
    monkeypatch.setattr(h5io, "DAMAGE_RETRIES", 2)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("damaged") / "store.h5"
    planted_store(path, n_seq=8, seq_len=60, d_model=16, models=("base",), early_events=1)
    return path


def _damaged(labelled: Path, tmp_path: Path, signature: bytes, which: int) -> Path:
    data = bytearray(labelled.read_bytes())
    spots = [i for i in range(len(data)) if data.startswith(signature, i)]
    data[spots[which] : spots[which] + 4] = b"XXXX"
    path = tmp_path / "damaged.h5"
    path.write_bytes(bytes(data))
    return path


def _commands(store: Path, tmp_path: Path) -> list[list[str]]:
    return [
        ["directions", str(store), "--out", str(tmp_path / "d"), "--n-random", "0"],
        ["probe", str(store), "--out", str(tmp_path / "p"), "--n-bootstrap", "10"],
        ["store", "info", str(store)],
    ]


@pytest.mark.parametrize("signature", SIGNATURES)
@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_damaged_metadata_is_one_line_naming_the_file(
    labelled: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signature: bytes,
    which: int,
) -> None:
    store = _damaged(labelled, tmp_path, signature, which)
    before = store.read_bytes()
    for argv in _commands(store, tmp_path):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith(f"error: store {str(store)!r} is damaged"), (argv, err)
        assert "restore it" in err
    with pytest.raises(StoreError, match="is damaged"):
        ActivationStore(store)
    assert store.read_bytes() == before  # nothing was written to it


@pytest.mark.parametrize("command", ["directions", "probe"])
def test_a_missing_labels_group_reads_as_no_labels(
    labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    unlabelled = tmp_path / "unlabelled.h5"
    shutil.copy(labelled, unlabelled)
    with h5py.File(unlabelled, "r+") as f:
        for name in list(f["labels"]):
            del f["labels"][name]
    no_group = tmp_path / "no_group.h5"
    shutil.copy(unlabelled, no_group)
    with h5py.File(no_group, "r+") as f:
        del f["labels"]
    messages = []
    for store in (unlabelled, no_group):
        assert main([command, str(store), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        messages.append(err.replace(str(store), "STORE"))
    assert messages[0] == messages[1]
    assert "labels present: none" in messages[0]
    assert "backtrack label --traces TRACES --store STORE" in messages[0]
