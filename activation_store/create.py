"""Creating a store and adding a model's entry to it.

All metadata (every dataset a caching run will fill, preallocated at full size) is written here,
before any activation is. During caching only raw rows and the committed-row counter change, so
a process killed at any moment leaves the file's structure intact (see SCHEMA.md).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from activation_store import schema
from activation_store.cache_config import ResumeMode
from activation_store.core.errors import StoreError
from activation_store.h5io import atomic_new_file, check_store_file, open_store_file
from activation_store.tokens import TokenTable
from activation_store.version import TOOLKIT_VERSION


@dataclass(frozen=True, kw_only=True)
class HookEntry:
    """One cached hook of a model, with what it means."""

    name: str
    """TransformerLens hook name, e.g. ``blocks.10.hook_resid_post``."""
    layer: int | None
    """Block index the hook belongs to (``None`` for embeddings)."""
    meaning: str
    """Plain-words meaning, e.g. "residual stream after decoder block 10"."""
    hf_module: str
    """Equivalent Hugging Face module path, e.g. ``model.layers.10 (output)``."""


@dataclass(frozen=True, kw_only=True)
class ModelEntry:
    """Everything recorded about one model's activations in a store."""

    key: str
    """Group name inside the store (``activations/<key>``), e.g. ``base`` or ``reasoner``."""
    model_id: str
    """Spec name or local path the model was loaded from."""
    architecture: str
    fingerprint: str
    """Fingerprint of the model's config and weights: resuming with other weights is refused."""
    d_model: int
    n_layers: int
    model_dtype: str
    """dtype the model ran in (bfloat16 outputs are stored as float32 or float16, see SCHEMA.md)."""
    tokenizer_id: str
    hooks: tuple[HookEntry, ...]
    store_dtype: Literal["float16", "float32"] = "float16"
    compression: Literal["none", "lzf", "gzip"] = "none"
    config_json: str = "{}"
    """The creating run's configuration, as JSON."""


def block_rows(d_model: int, itemsize: int) -> int:
    """Rows per storage block (HDF5 chunk, or read block for contiguous data): about 1 MiB."""
    return max(1, (1 << 20) // (d_model * itemsize))


def create_store(
    path: str | Path, tokens: TokenTable, *, tokenizer_id: str, config: Mapping[str, Any]
) -> None:
    """Write a new store holding ``tokens`` and no activations (atomically: all or nothing)."""
    with atomic_new_file(path) as f:
        f.attrs["schema_version"] = schema.SCHEMA_VERSION
        f.attrs["toolkit_version"] = TOOLKIT_VERSION
        f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        f.attrs["tokenizer_id"] = tokenizer_id
        f.attrs["n_tokens"] = tokens.n_tokens
        f.attrs["n_sequences"] = tokens.n_sequences
        f.attrs["tokens_fingerprint"] = tokens.fingerprint()
        f.attrs["creating_config"] = json.dumps(dict(config), sort_keys=True, default=str)
        f.create_dataset(schema.TOKEN_IDS, data=tokens.ids, dtype="<i4")
        f.create_dataset(schema.TOKEN_SEQ, data=tokens.seq_index, dtype="<i4")
        f.create_dataset(schema.TOKEN_POS, data=tokens.positions, dtype="<i4")
        f.create_dataset(schema.SEQ_OFFSETS, data=tokens.offsets, dtype="<i8")
        f.create_dataset(
            schema.SEQ_IDS, data=list(tokens.trace_ids), dtype=h5py.string_dtype("utf-8")
        )
        f.create_group(schema.ACTIVATIONS)
        f.create_group(schema.COMMITTED)
        f.create_group(schema.LABELS)


def read_tokens(f: h5py.File) -> TokenTable:
    trace_ids = tuple(s.decode() if isinstance(s, bytes) else s for s in f[schema.SEQ_IDS][()])
    return TokenTable(
        ids=f[schema.TOKEN_IDS][()], offsets=f[schema.SEQ_OFFSETS][()], trace_ids=trace_ids
    )


def check_same_tokens(f: h5py.File, tokens: TokenTable, path: str | Path) -> None:
    """Raise naming the first differing sequence when ``tokens`` are not the store's tokens."""
    if f.attrs["tokens_fingerprint"] == tokens.fingerprint():
        return
    stored = read_tokens(f)
    if stored.trace_ids != tokens.trace_ids:
        for i, (a, b) in enumerate(zip(stored.trace_ids, tokens.trace_ids, strict=False)):
            if a != b:
                raise StoreError(
                    f"store {str(path)!r} holds other tokens: sequence {i} is {a!r} in the store but "
                    f"{b!r} in the input; use a new --out path for other tokens"
                )
        raise StoreError(
            f"store {str(path)!r} holds {stored.n_sequences} sequences but the input has "
            f"{tokens.n_sequences}; use a new --out path for other tokens"
        )
    for s, tid in enumerate(tokens.trace_ids):
        if not np.array_equal(stored.sequence(s), tokens.sequence(s)):
            raise StoreError(
                f"store {str(path)!r} holds other token ids for sequence {tid!r}; "
                "use a new --out path for other tokens (or the same tokenizer and chat-template)"
            )
    raise StoreError(f"store {str(path)!r} holds other tokens; use a new --out path")


def already_cached(path: str | Path, key: str, committed: int, n_tokens: int) -> StoreError:
    """The error for caching a model that the store holds already, without --resume/--overwrite."""
    return StoreError(
        f"model {key!r} is already in {str(path)!r} ({committed:,}/{n_tokens:,} rows committed); "
        "pass --resume to continue it or --overwrite to recompute it"
    )


def prepare_model(path: str | Path, entry: ModelEntry, *, mode: ResumeMode) -> int:
    """Make room for ``entry`` in the store and return the row to start caching at.

    ``mode="new"`` refuses a model already present; ``"resume"`` continues it after checking that
    the model, hooks and storage settings are the same; ``"overwrite"`` recomputes that model's
    entry (other models and labels are kept).
    """
    schema.check_model_key(entry.key)
    with open_store_file(path, "r+") as f:
        check_store_file(f, path)
        group_path = f"{schema.ACTIVATIONS}/{entry.key}"
        if group_path in f:
            committed = int(f[schema.committed_path(entry.key)][()])
            if mode == "new":
                raise already_cached(path, entry.key, committed, int(f.attrs["n_tokens"]))
            if mode == "resume":
                _check_resumable(f[group_path], entry)
                return committed
            del f[group_path]
            del f[schema.committed_path(entry.key)]
        _create_model_group(f, entry)
        f.flush()
    return 0


_RESUME_FIELDS = ("fingerprint", "d_model", "store_dtype", "compression", "model_dtype")


def _check_resumable(group: h5py.Group, entry: ModelEntry) -> None:
    for name in _RESUME_FIELDS:
        stored, wanted = group.attrs[name], getattr(entry, name)
        if str(stored) != str(wanted):
            raise StoreError(
                f"cannot resume model {entry.key!r}: {name} is {stored!r} in the store but "
                f"{wanted!r} now; use the same settings, or --overwrite to recompute"
            )
    stored_hooks = [h for h in group if isinstance(group[h], h5py.Dataset)]
    wanted_hooks = [h.name for h in entry.hooks]
    if sorted(stored_hooks) != sorted(wanted_hooks):
        raise StoreError(
            f"cannot resume model {entry.key!r}: the store has hooks {','.join(sorted(stored_hooks))} "
            f"but {','.join(sorted(wanted_hooks))} were requested; request the same hooks"
        )


def _create_model_group(f: h5py.File, entry: ModelEntry) -> None:
    n_tokens = int(f.attrs["n_tokens"])
    group = f.create_group(f"{schema.ACTIVATIONS}/{entry.key}", track_order=True)
    attrs = asdict(entry)
    attrs.pop("hooks")
    attrs.pop("key")
    for name, value in attrs.items():
        group.attrs[name] = value
    group.attrs["toolkit_version"] = TOOLKIT_VERSION
    group.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    dtype = np.dtype(entry.store_dtype).newbyteorder("<")
    rows = block_rows(entry.d_model, dtype.itemsize)
    for hook in entry.hooks:
        ds = _create_activation_dataset(group, hook.name, n_tokens, entry, dtype, rows)
        ds.attrs["hook"] = hook.name
        ds.attrs["layer"] = -1 if hook.layer is None else hook.layer
        ds.attrs["meaning"] = hook.meaning
        ds.attrs["hf_module"] = hook.hf_module
        ds.attrs["block_rows"] = rows
    # The counter is written at creation, so its storage exists before caching starts.
    f.create_dataset(schema.committed_path(entry.key), data=np.int64(0))


def _create_activation_dataset(
    group: h5py.Group, name: str, n_tokens: int, entry: ModelEntry, dtype: np.dtype, rows: int
) -> h5py.Dataset:
    shape = (n_tokens, entry.d_model)
    if entry.compression != "none":
        opts: dict[str, Any] = {"compression": entry.compression}
        if entry.compression == "gzip":
            opts["compression_opts"] = 1
        return group.create_dataset(
            name, shape=shape, dtype=dtype, chunks=(min(rows, n_tokens), entry.d_model), **opts
        )
    # Contiguous, allocated now, never filled: a sparse file until rows are written, and no
    # metadata changes while caching.
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    space = h5py.h5s.create_simple(shape)
    type_id = h5py.h5t.py_create(dtype)
    dsid = h5py.h5d.create(group.id, name.encode(), type_id, space, dcpl=dcpl)
    return h5py.Dataset(dsid)
