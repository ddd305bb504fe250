"""``backtrack cache`` and a full disk: refused before writing, or one line mid-run; resumable."""

from __future__ import annotations

import errno
from pathlib import Path

import h5py
import numpy as np
import pytest

from activation_store import capture
from activation_store.reader import ActivationStore
from experiments.cli import main
from tests.activation_store.test_cli_crash_resume import write_tokens

HOOKS = "blocks.0.hook_resid_post,blocks.3.hook_resid_post"


def _cache(tokens: Path, out: Path, *extra: str) -> int:
    return main(["cache", "--model", "tiny-llama", "--tokens", str(tokens), "--hooks", HOOKS,
                 "--out", str(out), "--name", "base", "--batch-tokens", "256", *extra])  # fmt: skip


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    return write_tokens(tmp_path / "tokens.jsonl", n_seq=40)


def test_too_little_free_space_is_refused_before_writing(
    tokens: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(capture, "free_bytes", lambda path: 10_000)
    out = tmp_path / "s.h5"
    assert _cache(tokens, out) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: not enough disk space") and "--ignore-disk-space" in err
    assert "10.0 kB free" in err
    assert not out.exists()  # nothing written
    assert _cache(tokens, out, "--ignore-disk-space") == 0


@pytest.mark.parametrize("writer_thread", ["off", "on"])
def test_disk_full_mid_run_is_one_line_and_resume_finishes_the_store(
    tokens: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    writer_thread: str,
) -> None:
    reference = tmp_path / "ref.h5"
    assert _cache(tokens, reference) == 0
    out = tmp_path / "s.h5"
    original = h5py.Dataset.__setitem__
    writes = {"n": 0}

    def full_disk(self, key, value):  # type: ignore[no-untyped-def]
        if self.name.startswith("/activations/"):
            writes["n"] += 1
            if writes["n"] > 4:  # two batches of two hooks fit
                raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", full_disk)
    capsys.readouterr()
    assert _cache(tokens, out, "--writer-thread", writer_thread) == 2
    (err,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert err.startswith("error: disk full while caching into") and "\n" not in err
    assert "committed rows are intact" in err and "--resume" in err
    monkeypatch.setattr(h5py.Dataset, "__setitem__", original)
    with ActivationStore(out) as store:
        kept = store.committed_rows("base")
        assert 0 < kept < store.n_tokens
    assert _cache(tokens, out, "--resume") == 0
    with ActivationStore(out) as a, ActivationStore(reference) as b:
        assert a.committed_rows("base") == a.n_tokens
        for hook in HOOKS.split(","):
            np.testing.assert_array_equal(
                a.read("base", hook, slice(None)), b.read("base", hook, slice(None))
            )
