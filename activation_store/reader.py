"""Reading a store: what is inside, row selection, and bounded-memory shuffled streaming."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import h5py
import numpy as np
import torch
from numpy.typing import NDArray

from activation_store import schema
from activation_store.core.errors import StoreError
from activation_store.create import read_tokens
from activation_store.events import EventWindows, event_windows
from activation_store.h5io import (
    StoreDamaged,
    check_store_file,
    damage_as_store_error,
    open_store_file,
)
from activation_store.tokens import TokenTable

T = TypeVar("T")


@dataclass(frozen=True)
class Batch:
    """A batch of rows: ``acts[hook]`` is a float32 tensor [len(rows), d_model]."""

    rows: NDArray[np.int64]
    acts: dict[str, torch.Tensor]


class ActivationStore:
    """Read-only view of an HDF5 activation store; safe to open while a writer is caching into it.

    Only committed rows can be read: asking for rows past a model's committed-row counter raises.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = open_store_file(self.path, "r")
        try:
            check_store_file(self._file, self.path)
        except StoreError:
            self._file.close()
            raise

    def refresh(self) -> None:
        """Re-open the file, to see models and labels added since it was opened.

        Rows and committed-row counters are always read live; the file's *structure* (which
        models, hooks and labels exist) is what HDF5 caches per open handle. Listing models or
        labels, and looking up a missing one, refresh automatically.
        """
        self._file.close()
        self._file = open_store_file(self.path, "r")

    def _has(self, path: str) -> bool:
        """Whether ``path`` exists, re-opening the file when this handle does not see it."""
        try:
            if path in self._file:
                return True
        except (RuntimeError, OSError, KeyError):
            pass
        return self._fresh(lambda f: path in f)

    def _fresh(self, read: Callable[[h5py.File], T]) -> T:
        """Re-open and ``read`` the file's structure, retrying briefly: a writer adding a model or
        a label changes metadata for a few milliseconds, and a reader opening the file in that
        window can see it half-written."""
        last: Exception | None = None
        for _ in range(40):
            try:
                self.refresh()
                return read(self._file)
            except StoreDamaged:
                raise
            except (RuntimeError, OSError, KeyError, StoreError) as err:
                last = err
                time.sleep(0.05)
        raise StoreError(
            f"could not read the structure of {str(self.path)!r} (is a writer changing it?): {last}"
        )

    # -- context manager -----------------------------------------------------------------------
    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()

    def __enter__(self) -> ActivationStore:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- what is inside ------------------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._file.attrs)

    @property
    def n_tokens(self) -> int:
        return int(self._file.attrs["n_tokens"])

    @cached_property
    def tokens(self) -> TokenTable:
        with damage_as_store_error(self.path):
            return read_tokens(self._file)

    @property
    def models(self) -> list[str]:
        return self._fresh(lambda f: list(f[schema.ACTIVATIONS]))

    def model_attrs(self, model: str) -> dict[str, Any]:
        return dict(self._group(model).attrs)

    def hooks(self, model: str) -> list[str]:
        return list(self._group(model))

    def d_model(self, model: str) -> int:
        return int(self._group(model).attrs["d_model"])

    def committed_rows(self, model: str) -> int:
        """Rows of ``model`` complete for every hook, read from disk each call."""
        self._group(model)
        with damage_as_store_error(self.path):
            return int(self._file[schema.committed_path(model)][()])

    @property
    def labels(self) -> list[str]:
        """Label names; none when the store has no ``labels`` group at all."""
        return self._fresh(lambda f: list(f[schema.LABELS]) if schema.LABELS in f else [])

    def label(self, name: str) -> NDArray[Any]:
        path = schema.label_path(name)
        if not self._has(path):
            unlabelled = f"none (run `backtrack label --traces TRACES --store {self.path}` first)"
            raise StoreError(
                f"label {name!r} is not in {str(self.path)!r}; labels present: "
                f"{', '.join(self.labels) or unlabelled}"
            )
        with damage_as_store_error(self.path):
            return self._file[path][()]

    def label_attrs(self, name: str) -> dict[str, Any]:
        self.label(name)
        return dict(self._file[schema.label_path(name)].attrs)

    def creating_config(self) -> dict[str, Any]:
        return dict(json.loads(self._file.attrs.get("creating_config", "{}")))

    # -- selection -----------------------------------------------------------------------------
    def event_windows(
        self, label: str, offsets: Sequence[int], *, within: str | None = None
    ) -> EventWindows:
        """Rows at ``offsets`` from every token where ``labels/<label>`` is non-zero.

        Windows leaving the event's sequence, or the ``within`` label's non-zero tokens (e.g. the
        thinking span), are skipped and counted in ``n_skipped``.
        """
        mask = self.label(within).astype(bool) if within else None
        return event_windows(
            self.tokens.seq_index, self.label(label).astype(bool), offsets, within=mask
        )

    def read(self, model: str, hook: str, rows: NDArray[np.integer] | slice) -> NDArray[np.float32]:
        """Activations of ``rows`` (any order, repeats allowed) as float32 [len(rows), d_model]."""
        with damage_as_store_error(self.path):
            return self._read(model, hook, rows)

    def _read(
        self, model: str, hook: str, rows: NDArray[np.integer] | slice
    ) -> NDArray[np.float32]:
        ds = self._dataset(model, hook)
        limit = self.committed_rows(model)
        if isinstance(rows, slice):
            start, stop, step = rows.indices(limit)
            if rows.stop is not None and rows.stop > limit:
                raise self._uncommitted(model, rows.stop - 1, limit)
            return np.asarray(ds[start:stop:step], dtype=np.float32)
        idx = np.asarray(rows, dtype=np.int64)
        if idx.size == 0:
            return np.zeros((0, ds.shape[1]), dtype=np.float32)
        if idx.min() < 0 or idx.max() >= limit:
            raise self._uncommitted(
                model, int(idx.max() if idx.max() >= limit else idx.min()), limit
            )
        order = np.argsort(idx, kind="stable")
        out = np.empty((idx.size, ds.shape[1]), dtype=np.float32)
        out[order] = self._read_sorted(ds, idx[order])
        return out

    def _read_sorted(self, ds: h5py.Dataset, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """Read sorted rows block by block (contiguous slices; never the whole dataset)."""
        block = int(ds.attrs.get("block_rows", 1024))
        out = np.empty((rows.size, ds.shape[1]), dtype=np.float32)
        ids = rows // block
        bounds = np.flatnonzero(np.diff(ids)) + 1
        for part in np.split(np.arange(rows.size), bounds):
            sel = rows[part]
            lo, hi = int(sel[0]), int(sel[-1]) + 1
            out[part] = ds[lo:hi][sel - lo]
        return out

    # -- streaming -----------------------------------------------------------------------------
    def iter_batches(
        self,
        model: str,
        hooks: Sequence[str],
        *,
        rows: NDArray[np.integer] | None = None,
        batch_size: int = 1024,
        shuffle: bool = True,
        seed: int = 0,
        buffer_blocks: int = 16,
        device: str | torch.device = "cpu",
    ) -> Iterator[Batch]:
        """Stream ``rows`` (default: all committed rows) of several hooks in batches.

        Memory stays bounded by ``buffer_blocks`` storage blocks per hook, whatever the store's size.
        With ``shuffle`` the order of storage blocks is permuted, and rows are shuffled inside a
        buffer of blocks; the order depends only on ``seed``. Every row appears exactly once.
        """
        with damage_as_store_error(self.path):
            yield from self._iter_batches(
                model, hooks, rows=rows, batch_size=batch_size, shuffle=shuffle, seed=seed,
                buffer_blocks=buffer_blocks, device=device,
            )  # fmt: skip

    def _iter_batches(
        self,
        model: str,
        hooks: Sequence[str],
        *,
        rows: NDArray[np.integer] | None,
        batch_size: int,
        shuffle: bool,
        seed: int,
        buffer_blocks: int,
        device: str | torch.device,
    ) -> Iterator[Batch]:
        if batch_size < 1:
            raise StoreError(f"batch_size must be ≥ 1, got {batch_size}")
        datasets = {h: self._dataset(model, h) for h in hooks}
        limit = self.committed_rows(model)
        sel = np.arange(limit, dtype=np.int64) if rows is None else np.unique(np.asarray(rows))
        if sel.size and (sel[0] < 0 or sel[-1] >= limit):
            raise self._uncommitted(model, int(sel[-1]), limit)
        block = int(next(iter(datasets.values())).attrs.get("block_rows", 1024))
        groups = np.split(sel, np.flatnonzero(np.diff(sel // block)) + 1) if sel.size else []
        rng = np.random.default_rng(seed)
        if shuffle:
            groups = [groups[i] for i in rng.permutation(len(groups))]
        carry_rows = np.zeros(0, dtype=np.int64)
        carry: dict[str, NDArray[np.float32]] = {
            h: np.zeros((0, ds.shape[1]), np.float32) for h, ds in datasets.items()
        }
        for start in range(0, len(groups), buffer_blocks):
            chunk = groups[start : start + buffer_blocks]
            buf_rows = np.concatenate([carry_rows, *chunk])
            bufs = {
                h: np.concatenate([carry[h], *(self._read_sorted(ds, g) for g in chunk)])
                # Looked up per buffer, not held: a refresh() meanwhile re-opens the file.
                for h, ds in ((h, self._dataset(model, h)) for h in hooks)
            }
            if shuffle:
                perm = rng.permutation(len(buf_rows))
                buf_rows = buf_rows[perm]
                bufs = {h: b[perm] for h, b in bufs.items()}
            n_full = len(buf_rows) // batch_size * batch_size
            last = start + buffer_blocks >= len(groups)
            end = len(buf_rows) if last else n_full
            for lo in range(0, end, batch_size):
                hi = min(lo + batch_size, end)
                yield Batch(
                    rows=buf_rows[lo:hi],
                    acts={h: torch.from_numpy(b[lo:hi]).to(device) for h, b in bufs.items()},
                )
            carry_rows = buf_rows[end:]
            carry = {h: b[end:] for h, b in bufs.items()}

    # -- helpers -------------------------------------------------------------------------------
    def _group(self, model: str) -> h5py.Group:
        path = f"{schema.ACTIVATIONS}/{model}"
        if not self._has(path):
            raise StoreError(
                f"model {model!r} is not in {str(self.path)!r}; models present: "
                f"{', '.join(self.models) or 'none'}"
            )
        return self._file[path]

    def _dataset(self, model: str, hook: str) -> h5py.Dataset:
        group = self._group(model)
        if hook not in group:
            raise StoreError(
                f"hook {hook!r} is not cached for model {model!r}; cached hooks: {', '.join(group)}"
            )
        return group[hook]

    def _uncommitted(self, model: str, row: int, limit: int) -> StoreError:
        return StoreError(
            f"row {row} of model {model!r} is not committed (committed rows: 0..{limit - 1}); "
            "wait for caching to finish or run `backtrack cache --resume`"
        )
