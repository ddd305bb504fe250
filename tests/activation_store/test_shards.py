"""Data-parallel caching: shards, and 2 torchrun processes (gloo) joined into one store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import islice
from pathlib import Path

import h5py
import numpy as np
import pytest

from activation_store import schema
from activation_store.cache_config import CacheConfig
from activation_store.capture import batch_plan
from activation_store.core.errors import InputError
from activation_store.create import read_tokens
from activation_store.reader import ActivationStore
from activation_store.shards import shard_file, shard_ranges, shard_tokens
from activation_store.tokens import TokenTable
from tests.paths import REPO_ROOT

HOOKS = "blocks.0.hook_resid_post,blocks.2.hook_resid_pre,hook_embed"


def table(lengths: list[int]) -> TokenTable:
    seqs = [[5 + (i + j) % 300 for j in range(n)] for i, n in enumerate(lengths)]
    return TokenTable.from_sequences([f"s{i}" for i in range(len(lengths))], seqs)


def test_shards_are_contiguous_disjoint_covering_and_balanced():
    tokens = table([30, 5, 5, 40, 10, 10, 10, 20])
    for world in (1, 2, 3, 8):
        ranges = shard_ranges(tokens, world)
        assert ranges == shard_ranges(tokens, world)
        assert ranges[0][0] == 0 and ranges[-1][1] == tokens.n_sequences
        assert all(a < b for a, b in ranges)
        assert all(ranges[i][1] == ranges[i + 1][0] for i in range(world - 1))
    sizes = [int(tokens.offsets[b] - tokens.offsets[a]) for a, b in shard_ranges(tokens, 2)]
    assert abs(sizes[0] - sizes[1]) <= 40
    part = shard_tokens(tokens, 3, 5)
    assert part.trace_ids == ("s3", "s4") and part.n_tokens == 50
    np.testing.assert_array_equal(part.sequence(1), tokens.sequence(4))
    assert shard_ranges(tokens, 2, [0, 3, 6]) == [(0, 3), (3, 8)]
    with pytest.raises(InputError, match="cannot be split over 9"):
        shard_ranges(tokens, 9)


def write_tokens(path: Path, n_seq: int = 24) -> Path:
    rng = np.random.default_rng(1)
    with path.open("w") as fh:
        for i in range(n_seq):
            ids = rng.integers(5, 400, size=int(rng.integers(5, 40))).tolist()
            fh.write(json.dumps({"id": f"t{i}", "token_ids": ids}) + "\n")
    return path


def run(args: list[str], *, torchrun: bool = False) -> str:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    head = [sys.executable, "-m"]
    if torchrun:
        head += ["torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m"]
    cmd = [*head, "experiments.cli", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def hook_arrays(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r", locking=False) as f:
        return {h: f[f"activations/base/{h}"][()] for h in HOOKS.split(",")}


def test_two_torchrun_processes_join_into_a_store_equal_to_one_process(tmp_path):
    tokens = write_tokens(tmp_path / "tokens.jsonl")
    common = ["--model", "tiny-llama", "--tokens", str(tokens), "--hooks", HOOKS, "--name", "base"]
    common += ["--batch-tokens", "96", "--store-dtype", "float32"]
    single, joined = tmp_path / "single.h5", tmp_path / "joined.h5"
    run(["cache", *common, "--out", str(single)])
    run(["cache", *common, "--out", str(joined)], torchrun=True)

    ref = hook_arrays(single)
    got = hook_arrays(joined)
    for hook in ref:  # plain h5py, row for row
        np.testing.assert_array_equal(got[hook], ref[hook])
    with h5py.File(joined, "r", locking=False) as f:
        assert all(f[f"activations/base/{h}"].is_virtual for h in HOOKS.split(","))
    with ActivationStore(joined) as a, ActivationStore(single) as b:
        assert a.committed_rows("base") == b.committed_rows("base") == b.tokens.n_tokens
        rows = np.arange(0, b.tokens.n_tokens, 7)
        np.testing.assert_array_equal(
            a.read("base", "blocks.0.hook_resid_post", rows),
            b.read("base", "blocks.0.hook_resid_post", rows),
        )
    info = json.loads(run(["store", "info", str(joined), "--json"]))
    assert info["models"]["base"]["committed_rows"] == info["n_tokens"]

    # Resume per shard: rank 1 "killed" after its first batch, the joined counter behind it.
    rank1 = shard_file(joined, "base", 1, 2)
    with h5py.File(rank1, "r+") as f:
        cfg = CacheConfig(hooks=tuple(HOOKS.split(",")), batch_tokens=96)
        second_batch = next(islice(batch_plan(read_tokens(f), cfg), 1, None))[0]
        first = int(f[schema.SEQ_OFFSETS][second_batch])
        f[schema.committed_path("base")][()] = first
        for h in HOOKS.split(","):
            f[f"activations/base/{h}"][first:] = 0
    with h5py.File(joined, "r+") as f:
        f[schema.committed_path("base")][()] = 0
    with ActivationStore(joined) as store:
        assert store.committed_rows("base") == 0
    run(["cache", *common, "--out", str(joined), "--resume"], torchrun=True)
    for hook, arr in hook_arrays(joined).items():
        np.testing.assert_array_equal(arr, ref[hook])
    with ActivationStore(joined) as store:
        assert store.committed_rows("base") == store.tokens.n_tokens


def test_nproc_relaunches_the_same_command_under_torchrun(monkeypatch):
    from activation_store import cli

    seen: list[list[str]] = []
    monkeypatch.setattr(sys, "argv", ["x", "-v", "cache", "--nproc", "2", "--out", "s.h5"])

    def fake_run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert cli._launch_torchrun(2) == 0
    assert seen[0][1:] == [
        "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "experiments.cli", "-v", "cache", "--out", "s.h5",
    ]  # fmt: skip


def test_a_joined_entry_is_not_resumed_by_one_process(tmp_path):
    from activation_store.capture import cache_activations
    from activation_store.core.errors import StoreError
    from activation_store.hf_capture import load_capture_model
    from activation_store.models import ModelConfig
    from activation_store.shards import Comm, cache_sharded

    cap = load_capture_model(ModelConfig(model="tiny-llama"))
    tokens = table([6, 7, 8, 9])
    out = tmp_path / "s.h5"
    cfg = CacheConfig(hooks=("blocks.0.hook_resid_post",), name="base", batch_tokens=8)
    # Two "ranks" in turn in one process; rank 0 again at the end joins the counter.
    for rank in (0, 1, 0):
        comm = Comm(rank=rank, world=2, broadcast=lambda x: x, gather=lambda x: [x, None])
        cache_sharded(cap, tokens, out, cfg, comm, progress=False)
        cfg = CacheConfig(hooks=cfg.hooks, name="base", batch_tokens=8, resume=True)
    with ActivationStore(out) as store:
        assert store.committed_rows("base") == tokens.n_tokens
    resume = CacheConfig(hooks=cfg.hooks, name="base", batch_tokens=8, resume=True)
    with pytest.raises(StoreError, match="rerun with --nproc 2"):
        cache_activations(cap, tokens, out, resume, progress=False)
