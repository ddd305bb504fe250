"""The real CLI, killed with SIGKILL mid-run, resumed, and read while it writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from activation_store.core.errors import StoreError
from activation_store.reader import ActivationStore
from tests.paths import REPO_ROOT

HOOKS = "blocks.0.hook_resid_post,blocks.3.hook_resid_post"
N_SEQ = 400


def write_tokens(path: Path, n_seq: int = N_SEQ) -> Path:
    rng = np.random.default_rng(0)
    with path.open("w") as fh:
        for i in range(n_seq):
            ids = rng.integers(5, 400, size=int(rng.integers(20, 60))).tolist()
            fh.write(json.dumps({"id": f"t{i}", "token_ids": ids}) + "\n")
    return path


def cache_cmd(tokens: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "experiments", "cache", "--model", "tiny-llama",
        "--tokens", str(tokens), "--hooks", HOOKS, "--out", str(out),
        "--name", "base", "--batch-tokens", "128", *extra,
    ]  # fmt: skip


def run_ok(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def committed(out: Path) -> int:
    try:
        with ActivationStore(out) as store:
            return store.committed_rows("base") if "base" in store.models else 0
    except StoreError:
        return 0


def dataset_bytes(out: Path) -> dict[str, bytes]:
    with h5py.File(out, "r", locking=False) as f:
        return {h: f[f"activations/base/{h}"][()].tobytes() for h in HOOKS.split(",")}


@pytest.mark.slow
def test_killed_run_resumes_to_a_store_identical_to_an_uninterrupted_one(tmp_path):
    tokens = write_tokens(tmp_path / "tokens.jsonl")
    reference = tmp_path / "reference.h5"
    run_ok(cache_cmd(tokens, reference))

    out = tmp_path / "killed.h5"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cache_cmd(tokens, out), env=env, stderr=subprocess.PIPE, text=True)
    seen: list[int] = []
    deadline = time.time() + 120
    with h5py.File(reference, "r", locking=False) as f:
        total = int(f.attrs["n_tokens"])
    while time.time() < deadline and proc.poll() is None:
        n = committed(out)
        if n:
            seen.append(n)
        if n > 0:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "caching finished before it could be killed; make the input larger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = committed(out)
    assert 0 < killed_at < total
    # The killed store is readable, and its committed rows are already final.
    ref = dataset_bytes(reference)
    with ActivationStore(out) as store, h5py.File(reference, "r", locking=False) as f:
        for hook in HOOKS.split(","):
            np.testing.assert_array_equal(
                store.read("base", hook, slice(0, killed_at)),
                f[f"activations/base/{hook}"][:killed_at].astype(np.float32),
            )
    # Without --resume the CLI refuses and changes nothing.
    refused = subprocess.run(cache_cmd(tokens, out), capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    assert committed(out) == killed_at
    run_ok(cache_cmd(tokens, out, "--resume"))
    assert committed(out) == total
    assert dataset_bytes(out) == ref


@pytest.mark.slow
def test_reader_follows_a_live_cache_run(tmp_path):
    tokens = write_tokens(tmp_path / "tokens.jsonl", n_seq=3 * N_SEQ)
    out = tmp_path / "live.h5"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cache_cmd(tokens, out), env=env, stderr=subprocess.DEVNULL)
    counts: list[int] = []
    snapshots: list[tuple[int, np.ndarray]] = []
    try:
        deadline = time.time() + 120
        while not out.exists() and time.time() < deadline:
            time.sleep(0.02)
        with ActivationStore(out) as store:  # one handle, kept open while the writer works
            while proc.poll() is None and time.time() < deadline:
                if "base" in store.models:
                    n = store.committed_rows("base")
                    counts.append(n)
                    if n and len(snapshots) < 3 and (not snapshots or snapshots[-1][0] != n):
                        snapshots.append(
                            (n, store.read("base", "blocks.3.hook_resid_post", slice(0, n)))
                        )
                time.sleep(0.01)
    finally:
        proc.wait(timeout=300)
    assert proc.returncode == 0
    assert len(set(counts)) >= 3, f"reader saw too few distinct commits: {sorted(set(counts))[:10]}"
    assert counts == sorted(counts)
    with ActivationStore(out) as store:
        final = store.read("base", "blocks.3.hook_resid_post", slice(None))
    for n, snap in snapshots:
        np.testing.assert_array_equal(snap, final[:n])


def test_reader_opened_before_a_model_existed_sees_it(tmp_path):
    """HDF5 caches structure per handle: a reader opened early must still find later models."""
    from activation_store.create import create_store
    from tests.activation_store.helpers import token_table

    path = tmp_path / "s.h5"
    create_store(path, token_table([4, 4]), tokenizer_id="tok", config={})
    code = (
        "from activation_store.create import prepare_model\n"
        "from tests.activation_store.helpers import model_entry\n"
        f"prepare_model({str(path)!r}, model_entry(key='late'), mode='new')"
    )
    with ActivationStore(path) as store:
        assert store.models == []
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
        assert store.models == ["late"]
        assert store.committed_rows("late") == 0
