"""Host buffers that batches of activations are copied into on their way to the writer thread.

A fixed pool of slots, allocated once (pinned on CUDA, so device→host copies are asynchronous and
the forward pass of the next batch runs while they and the HDF5 write proceed). A slot is taken
per batch and handed back by the writer once the batch is on disk: with ``n_slots`` slots, host
memory is bounded by ``n_slots`` batches whatever the number of tokens cached, and the producer
waits (double buffering at ``n_slots=2``) when the writer falls behind.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StagedBatch:
    """One batch on the host (valid once ``ready`` has completed, when it is not None)."""

    rows: dict[str, torch.Tensor]
    """Views ``[n_rows, d_model]`` into the slot's buffers."""
    stats: dict[str, torch.Tensor]
    ready: torch.cuda.Event | None
    release: Callable[[], None]
    """Hands the slot back (idempotent)."""


class HostStaging:
    """``n_slots`` × (one ``[max_rows, d_model]`` buffer per hook + a stats buffer per hook)."""

    def __init__(
        self,
        hooks: list[str],
        *,
        max_rows: int,
        d_model: int,
        dtype: torch.dtype,
        device: torch.device,
        n_slots: int = 2,
    ) -> None:
        if n_slots < 1:
            raise ValueError("n_slots must be ≥ 1")
        self.max_rows = max_rows
        self._cuda = device.type == "cuda"
        self._free: queue.Queue[int] = queue.Queue()
        self._slots: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = []
        for i in range(n_slots):
            bufs = {
                h: torch.empty((max_rows, d_model), dtype=dtype, pin_memory=self._cuda)
                for h in hooks
            }
            stats = {h: torch.empty(3, dtype=torch.float32, pin_memory=self._cuda) for h in hooks}
            self._slots.append((bufs, stats))
            self._free.put(i)

    def stage(
        self,
        rows: Mapping[str, torch.Tensor],
        stats: Mapping[str, torch.Tensor],
        *,
        wait: Callable[[], None] = lambda: None,
    ) -> StagedBatch:
        """Copy ``rows`` and ``stats`` (on any device) into a free slot; blocks while none is free,
        calling ``wait`` every half second (e.g. to raise the writer's error)."""
        n = next(iter(rows.values())).shape[0]
        if n > self.max_rows:
            raise ValueError(f"batch of {n} rows exceeds the staging buffers' {self.max_rows}")
        while True:
            try:
                slot = self._free.get(timeout=0.5)
                break
            except queue.Empty:
                wait()
        bufs, stat_bufs = self._slots[slot]
        out = {}
        for h, t in rows.items():
            view = bufs[h][:n]
            view.copy_(t, non_blocking=self._cuda)
            out[h] = view
        out_stats = {}
        for h, t in stats.items():
            stat_bufs[h].copy_(t, non_blocking=self._cuda)
            out_stats[h] = stat_bufs[h]
        ready = None
        if self._cuda:
            ready = torch.cuda.Event()
            ready.record()
        lock = threading.Lock()
        released = [False]

        def release() -> None:
            with lock:
                if released[0]:
                    return
                released[0] = True
            self._free.put(slot)

        return StagedBatch(rows=out, stats=out_stats, ready=ready, release=release)
