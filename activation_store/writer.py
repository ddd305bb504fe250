"""Writing activations into a prepared model entry, beside the forward passes.

:class:`ActivationWriter` takes batches of activations (torch tensors on any device) and writes them
on a background thread through a bounded queue, so device→host copies and HDF5 writes overlap the
next batch's forward pass. Rows are written in order; after each batch its rows are flushed and only
then is the model's committed-row counter advanced (and flushed). A process killed at any moment
leaves every committed row intact, and ``--resume`` continues from the counter.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import torch

from activation_store import schema
from activation_store.core.errors import StoreError
from activation_store.h5io import open_store_file

log = logging.getLogger(__name__)

_STOP = object()


class DiskFull(StoreError):
    """The disk filled up while writing; rows committed before are intact (``--resume``)."""


def _is_disk_full(err: OSError) -> bool:
    text = str(err).lower()
    return (
        err.errno in (errno.ENOSPC, errno.EDQUOT) or "no space left" in text or "errno = 28" in text
    )


@dataclass(frozen=True)
class _Batch:
    index: int
    row_start: int
    n_rows: int
    tensors: dict[str, torch.Tensor]
    ready: torch.cuda.Event | None


class ActivationWriter:
    """Background writer for one model entry of a store (use as a context manager).

    With ``background=False`` batches are written synchronously inside ``submit`` (same checks,
    same commit protocol): on a CPU the forward pass already uses every core, and a writer thread
    beside it makes OpenMP's spinning worker threads lose their core (measured: forward passes 2.4×
    slower on 2 cores), while the writes themselves cost about 1 % of a batch.

    ``submit(batch_index, row_start, {hook: tensor[n_rows, d_model]})`` queues a batch; a failure on
    the writer thread (NaN/inf activations, float16 overflow, disk errors) is raised as a
    :class:`StoreError` at the next ``submit`` or at exit, and the batch it names is not committed.
    """

    def __init__(
        self,
        path: str | Path,
        model_key: str,
        *,
        start_row: int,
        queue_size: int = 4,
        fsync: bool = False,
        background: bool = True,
    ) -> None:
        self.path = Path(path)
        self.model_key = model_key
        self.next_row = start_row
        self.committed_rows = start_row
        self._fsync = fsync
        self._file = open_store_file(self.path, "r+")
        group = self._file[f"{schema.ACTIVATIONS}/{model_key}"]
        self._datasets = {name: ds for name, ds in group.items()}
        self._counter = self._file[schema.committed_path(model_key)]
        self._store_dtype = np.dtype(str(group.attrs["store_dtype"]))
        self._n_tokens = int(self._file.attrs["n_tokens"])
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="activation-writer", daemon=True)
        self._background = background
        if background:
            self._thread.start()

    # -- producer side -------------------------------------------------------------------------
    def submit(self, batch_index: int, row_start: int, acts: Mapping[str, torch.Tensor]) -> None:
        self._raise_pending()
        if set(acts) != set(self._datasets):
            raise StoreError(
                f"batch {batch_index} has hooks {sorted(acts)} but the store expects "
                f"{sorted(self._datasets)}"
            )
        n_rows = {int(t.shape[0]) for t in acts.values()}
        if len(n_rows) != 1:
            raise StoreError(f"batch {batch_index}: hooks have different row counts {n_rows}")
        (rows,) = n_rows
        if row_start != self.next_row:
            raise StoreError(
                f"batch {batch_index} starts at row {row_start}, expected {self.next_row}"
            )
        if row_start + rows > self._n_tokens:
            raise StoreError(f"batch {batch_index} runs past the store's {self._n_tokens} rows")
        tensors, ready = self._to_host(acts)
        self.next_row += rows
        batch = _Batch(batch_index, row_start, rows, tensors, ready)
        if self._background:
            self._put(batch)
        else:
            self._write(batch)

    def _to_host(
        self, acts: Mapping[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.cuda.Event | None]:
        first = next(iter(acts.values()))
        if first.device.type != "cuda":
            return {k: v.detach() for k, v in acts.items()}, None
        # Asynchronous copy into pinned memory; the writer thread waits on the event, not the stream.
        host = {}
        for k, v in acts.items():
            buf = torch.empty(v.shape, dtype=v.dtype, device="cpu", pin_memory=True)
            buf.copy_(v.detach(), non_blocking=True)
            host[k] = buf
        event = torch.cuda.Event()
        event.record()
        return host, event

    def _put(self, item: object) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                self._raise_pending()

    def _raise_pending(self) -> None:
        if self._error is not None:
            err = self._error
            raise err if isinstance(err, StoreError) else StoreError(f"writer failed: {err}")

    # -- writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain without writing after a failure
            try:
                self._write(item)  # type: ignore[arg-type]
            except BaseException as err:
                self._error = err

    def _write(self, batch: _Batch) -> None:
        if batch.ready is not None:
            batch.ready.synchronize()
        arrays = {hook: self._checked(batch, hook, t) for hook, t in batch.tensors.items()}
        lo, hi = batch.row_start, batch.row_start + batch.n_rows
        try:
            for hook, arr in arrays.items():
                self._datasets[hook][lo:hi] = arr
            self._file.flush()
            if self._fsync:
                _fsync_path(self.path)
            self._counter[()] = hi
            self._file.flush()
        except OSError as err:
            if not _is_disk_full(err):
                raise
            raise DiskFull(
                f"disk full while caching into {str(self.path)!r} (batch {batch.index}): the "
                f"{self.committed_rows:,} committed rows are intact; free some space and rerun "
                "the same command with --resume"
            ) from err
        self.committed_rows = hi

    def _checked(self, batch: _Batch, hook: str, t: torch.Tensor) -> np.ndarray:
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()  # bfloat16 → float32 is exact
        arr = t.numpy()
        if not np.isfinite(arr).all():
            bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
            raise StoreError(
                f"batch {batch.index} ({hook}) has NaN/inf activations at row {batch.row_start + bad}; "
                "nothing of it was stored (check the model's dtype, e.g. --dtype float32)"
            )
        if self._store_dtype == np.float16:
            peak = float(np.abs(arr).max()) if arr.size else 0.0
            if peak > schema.FLOAT16_MAX:
                raise StoreError(
                    f"batch {batch.index} ({hook}) has activations up to {peak:.4g}, beyond float16's "
                    f"{schema.FLOAT16_MAX:.0f}; nothing of it was stored; use --store-dtype float32"
                )
        return arr.astype(self._store_dtype, copy=False)

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if self._file.id.valid:
            try:
                self._file.close()
            except OSError as err:
                if not _is_disk_full(err):
                    raise
                log.warning("disk full while closing %s; the committed rows are intact", self.path)
        self._raise_pending()

    def __enter__(self) -> ActivationWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self._error is None:
            # Keep what was submitted before the failure: finish writing it, then close.
            try:
                self.close()
            except StoreError as err:
                log.error("%s", err)
            return
        self.close()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
