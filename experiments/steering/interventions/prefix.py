"""Run the blocks before the first steered one once: record their output, replay it for every
intervention that edits only later blocks.

A teacher-forced reading of many steering cells on the same inputs (the decision-point metric:
each direction × α × trace) repeats the same computation below the steered block: steering
``blocks.10.hook_resid_post`` cannot change blocks 0–10's inputs, so for a 30-block model a third
of every steered forward is the unsteered one. :class:`SharedPrefix` records the output of block
``block − 1`` during one forward per batch, and in later forwards of the same batch replaces
blocks ``0 … block − 1`` by that recording, so the steered forward runs only the blocks from
``block`` on (the embedding, attention mask and rotary tables are still computed; they are
cheap). The replayed tensor is the one the full forward would compute, so the results are the
same numbers (tested: equal to a full forward's).

>>> share = SharedPrefix(hf_model, block=10, max_bytes=2**30)
>>> with share.use(key, interventions=[]):     # unsteered: records block 9's output for `key`
...     body(input_ids=ids, attention_mask=mask)
>>> with share.use(key, interventions=ivs), steer_hf(hf_model, ivs):  # replays blocks 0–9
...     body(input_ids=ids, attention_mask=mask)
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import torch

from activation_store.models.convert import architecture_of
from activation_store.models.hooks import hook_name, parse_hook
from experiments.steering.interventions.hf import _target
from experiments.steering.interventions.intervention import Intervention


def first_steered_block(interventions: Sequence[Intervention]) -> int | None:
    """The lowest block any of ``interventions`` edits (an edit at ``blocks.L.*`` leaves blocks
    ``0 … L − 1`` alone); 0 when one edits an embedding hook; None without interventions."""
    layers = [0 if iv.spec.layer is None else iv.spec.layer for iv in interventions]
    return min(layers) if layers else None


class SharedPrefix:
    """Outputs of blocks ``0 … block − 1`` per batch key, recorded by one forward and replayed by
    later forwards of the same batch. Recording stops once ``max_bytes`` are held (the batch that
    crosses it is kept); batches not recorded run in full."""

    def __init__(self, hf_model: Any, *, block: int, max_bytes: int) -> None:
        if block < 1:
            raise ValueError(f"block={block}: a shared prefix needs at least one block below it")
        architecture = architecture_of(hf_model.config)
        self.block = block
        self.max_bytes = max_bytes
        self.layers = [
            _target(hf_model, parse_hook(hook_name("resid_post", i)), architecture)[0]
            for i in range(block)
        ]
        self._recorded: dict[Hashable, Any] = {}
        self._bytes = 0
        self.replays = 0
        """Forwards that replayed a recording (for tests and logs)."""

    @contextlib.contextmanager
    def use(self, key: Hashable, interventions: Sequence[Intervention]) -> Iterator[None]:
        """Around one forward of the batch ``key``: replay its recording when there is one and
        ``interventions`` edit nothing below :attr:`block`; record it when there is none and
        they edit nothing below it either; else run the forward in full."""
        first = first_steered_block(interventions)
        untouched = first is None or first >= self.block
        if untouched and key in self._recorded:
            with self._replay(self._recorded[key]):
                self.replays += 1
                yield
        elif untouched and self._bytes < self.max_bytes:
            with self._record(key):
                yield
        else:
            yield

    @contextlib.contextmanager
    def _record(self, key: Hashable) -> Iterator[None]:
        def keep(module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> None:
            self._recorded[key] = _clone(output)
            self._bytes += sum(t.numel() * t.element_size() for t in _tensors(output))

        handle = self.layers[-1].register_forward_hook(keep)
        try:
            yield
        finally:
            handle.remove()

    @contextlib.contextmanager
    def _replay(self, output: Any) -> Iterator[None]:
        # each skipped block returns the recording (the next block's input); a copy, so that an
        # edit in place downstream cannot reach the recording
        copy = _clone(output)

        def skipped(*args: Any, **kwargs: Any) -> Any:
            return copy

        # a forward set on the instance (accelerate's device-map wrapper) comes back afterwards
        own = [layer.__dict__.get("forward") for layer in self.layers]
        for layer in self.layers:
            layer.forward = skipped
        try:
            yield
        finally:
            for layer, previous in zip(self.layers, own, strict=True):
                if previous is None:
                    del layer.forward
                else:
                    layer.forward = previous


def _tensors(output: Any) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, tuple | list):
        return [t for item in output for t in _tensors(item)]
    return []


def _clone(output: Any) -> Any:
    if isinstance(output, torch.Tensor):
        return output.clone()
    if isinstance(output, tuple):
        return tuple(_clone(item) for item in output)
    return output
