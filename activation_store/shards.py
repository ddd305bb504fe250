"""Data-parallel caching: each process caches a shard of the sequences; one store joins them.

Under ``torchrun --nproc-per-node N`` (or ``backtrack cache --nproc N``) rank ``r`` of ``N``
caches the ``r``-th of ``N`` contiguous runs of sequences, split by token count
(:func:`shard_ranges`: deterministic, disjoint, covering), into its own store
``<out>.shards/<model>.<r>-of-<N>.h5`` with the usual commit protocol, so each shard resumes on
its own. Rank 0 first makes ``<out>`` (all tokens) and the model's entry, whose hook datasets are
HDF5 virtual datasets mapping rows ``[lo, hi)`` to the shard files (paths relative to ``<out>``'s
folder: move the folder, not the file alone). Readers see ordinary datasets. The entry's
committed-row counter is set, after the ranks finish, to the rows that are final from row 0 on
(every complete shard, then the committed rows of the first incomplete one).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from activation_store import schema
from activation_store.cache_config import CacheConfig
from activation_store.core.errors import InputError, StoreError
from activation_store.create import VirtualSource, prepare_model
from activation_store.h5io import open_store_file
from activation_store.tokens import TokenTable

log = logging.getLogger(__name__)

SHARDS_ATTR = "shards"
"""Model-group attribute of a joined entry: JSON list of its (file, first row, end row)."""


@dataclass(frozen=True)
class Comm:
    """What the ranks need from each other (torch.distributed in :func:`torch_comm`)."""

    rank: int
    world: int
    broadcast: Callable[[Any], Any]
    """Rank 0's object, on every rank."""
    gather: Callable[[Any], list[Any]]
    """Every rank's object, in rank order, on every rank."""


@contextmanager
def torch_comm() -> Iterator[Comm]:
    """A :class:`Comm` over the default ``torch.distributed`` process group (gloo if none yet).

    A group made here is destroyed on leaving: a process that exits with a live gloo group can
    abort in C++ at interpreter teardown ("terminate called without an active exception"), and
    torchrun then reports the whole run as failed though every shard was written.
    """
    import torch.distributed as dist

    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("gloo")
    try:
        yield _comm(dist)
    finally:
        if owned:
            dist.destroy_process_group()


def _comm(dist: Any) -> Comm:
    rank, world = dist.get_rank(), dist.get_world_size()

    def broadcast(obj: Any) -> Any:
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(obj: Any) -> list[Any]:
        out: list[Any] = [None] * world
        dist.all_gather_object(out, obj)
        return out

    return Comm(rank=rank, world=world, broadcast=broadcast, gather=gather)


def shard_ranges(
    tokens: TokenTable, world: int, starts: list[int] | None = None
) -> list[tuple[int, int]]:
    """``world`` contiguous, non-empty runs ``[s0, s1)`` of sequence indices with about equal tokens.

    Cuts are made only at ``starts`` (sequence indices that start a batch of the one-process plan,
    :func:`~activation_store.capture.batch_plan`; default: every sequence), so each shard batches
    exactly as one process would and the joined rows equal a one-process store bit for bit.
    """
    if world < 1:
        raise InputError(f"{world} processes; need at least 1")
    candidates = list(range(tokens.n_sequences)) if starts is None else list(starts)
    if len(candidates) < world:
        raise InputError(
            f"{len(candidates)} batches of sequences cannot be split over {world} processes; use "
            "fewer processes (or a smaller --batch-tokens)"
        )
    at = np.asarray(tokens.offsets[candidates], dtype=np.float64)
    cuts = [0]
    for r in range(1, world):
        i = int(np.abs(at - tokens.n_tokens * r / world).argmin())
        i = min(max(i, candidates.index(cuts[-1]) + 1), len(candidates) - (world - r))
        cuts.append(candidates[i])
    cuts.append(tokens.n_sequences)
    return [(cuts[i], cuts[i + 1]) for i in range(world)]


def shard_tokens(tokens: TokenTable, s0: int, s1: int) -> TokenTable:
    """Sequences ``s0 .. s1 - 1`` as a token table of their own."""
    lo, hi = int(tokens.offsets[s0]), int(tokens.offsets[s1])
    return TokenTable(
        ids=tokens.ids[lo:hi],
        offsets=tokens.offsets[s0 : s1 + 1] - lo,
        trace_ids=tokens.trace_ids[s0:s1],
    )


def shard_file(out: Path, key: str, rank: int, world: int) -> Path:
    """Where rank ``rank`` of ``world`` caches model ``key`` of the store ``out``."""
    return out.parent / f"{out.name}.shards" / f"{key}.{rank}-of-{world}.h5"


def shard_sources(
    out: Path, key: str, tokens: TokenTable, ranges: list[tuple[int, int]]
) -> list[VirtualSource]:
    """The joined entry's (relative file, first row, end row) per rank."""
    world = len(ranges)
    sources = []
    for rank, (s0, s1) in enumerate(ranges):
        rel = shard_file(out, key, rank, world).relative_to(out.parent)
        sources.append((str(rel), int(tokens.offsets[s0]), int(tokens.offsets[s1])))
    return sources


def joined_committed(out: Path, key: str, sources: list[VirtualSource]) -> int:
    """Rows final from row 0 on: complete shards in order, then the first incomplete one's rows."""
    rows = 0
    for rel, lo, hi in sources:
        path = out.parent / rel
        done = 0
        if path.exists():
            with open_store_file(path, "r") as f:
                counter = schema.committed_path(key)
                done = int(f[counter][()]) if counter in f else 0
        rows = lo + done
        if done < hi - lo:
            break
    return rows


def cache_sharded(
    loaded: Any,
    tokens: TokenTable,
    out: str | Path,
    config: CacheConfig,
    comm: Comm,
    *,
    progress: bool = True,
    check_disk_space: bool = True,
) -> Any:
    """This rank's part of a data-parallel caching run (every rank calls it with the same
    arguments); returns this rank's :class:`~activation_store.capture.CacheResult`."""
    from activation_store import capture

    out = Path(out)
    key = config.name or capture.default_model_key(loaded.model_id)
    n_layers, _, _ = capture._shape(loaded)
    specs = [capture.parse_hook(h, n_layers) for h in config.hooks]
    starts = [seqs[0] for seqs in capture.batch_plan(tokens, config)]
    ranges = shard_ranges(tokens, comm.world, starts)
    sources = shard_sources(out, key, tokens, ranges)
    failure: str | None = None
    if comm.rank == 0:
        try:
            _prepare_joined(loaded, tokens, out, config, key, specs, sources)
        except StoreError as err:
            failure = str(err)
    failure = comm.broadcast(failure)
    if failure is not None:
        raise StoreError(failure)
    s0, s1 = ranges[comm.rank]
    path = shard_file(out, key, comm.rank, comm.world)
    path.parent.mkdir(parents=True, exist_ok=True)
    result = None
    try:
        result = capture.cache_activations(
            loaded,
            shard_tokens(tokens, s0, s1),
            path,
            config,
            progress=progress and comm.rank == 0,
            check_disk_space=check_disk_space,
        )
    except StoreError as err:
        failure = f"rank {comm.rank}: {err}"
    failures = [f for f in comm.gather(failure) if f is not None]
    if comm.rank == 0:
        with open_store_file(out, "r+") as f:
            f[schema.committed_path(key)][()] = joined_committed(out, key, sources)
            f.flush()
    comm.gather(None)  # the joined counter is written before any rank returns
    if failures:
        raise StoreError("; ".join(failures))
    assert result is not None
    return result


def _prepare_joined(
    loaded: Any,
    tokens: TokenTable,
    out: Path,
    config: CacheConfig,
    key: str,
    specs: list[Any],
    sources: list[VirtualSource],
) -> None:
    from activation_store import capture

    capture._ensure_store(out, tokens, loaded, config, key)
    entry = capture._model_entry(loaded, key, specs, config)
    text = json.dumps(sources)
    with open_store_file(out, "r") as f:
        group = f.get(f"{schema.ACTIVATIONS}/{key}")
        stored = None if group is None else group.attrs.get(SHARDS_ATTR)
    if config.mode == "resume" and group is not None and stored != text:
        n = len(json.loads(stored)) if stored else 1
        raise StoreError(
            f"model {key!r} in {str(out)!r} was started with {n} process(es), not "
            f"{len(sources)}; resume with --nproc {n}"
        )
    prepare_model(out, entry, mode=config.mode, sources=sources)
    with open_store_file(out, "r+") as f:
        f[f"{schema.ACTIVATIONS}/{key}"].attrs[SHARDS_ATTR] = text
        f.flush()
