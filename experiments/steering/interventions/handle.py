"""The handle of installed interventions: undo with ``.remove()`` or by leaving its ``with`` block."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import torch
from jaxtyping import Bool
from torch import Tensor

from experiments.steering.interventions.intervention import Intervention
from experiments.steering.interventions.positions import CallPositions

logger = logging.getLogger(__name__)


class ChangeCounter:
    """Counts changed positions (prompt vs generated) on the activations' device, without syncing."""

    def __init__(self) -> None:
        self._counts: Tensor | None = None

    def add(self, mask_BT: Bool[Tensor, "batch pos"], positions: CallPositions) -> None:
        generated_BT = positions.generated_BT
        step = torch.stack([(mask_BT & ~generated_BT).sum(), (mask_BT & generated_BT).sum()])
        self._counts = step if self._counts is None else self._counts + step.to(self._counts)

    def totals(self) -> dict[str, int]:
        prompt, generated = (0, 0) if self._counts is None else self._counts.tolist()
        return {"prompt": int(prompt), "generated": int(generated)}


H = TypeVar("H", bound="HookHandle")


class HookHandle:
    """Hooks installed on a model: ``remove()`` (idempotent) uninstalls them, and only them;
    leaving a ``with`` block removes them too, even when the body raises."""

    def __init__(self, removers: Sequence[Callable[[], None]] = ()) -> None:
        self._removers = list(removers)

    @property
    def active(self) -> bool:
        """Whether the hooks are still installed."""
        return bool(self._removers)

    def remove(self) -> None:
        """Uninstall every hook this handle installed (and only those)."""
        while self._removers:
            self._removers.pop()()

    def __enter__(self: H) -> H:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()


class SteeringHandle(HookHandle):
    """Interventions installed on a model (a :class:`HookHandle`).

    :meth:`record` says, per intervention, what it did and how many token positions it changed
    (prompt vs generated) since it was installed.
    """

    def __init__(
        self,
        interventions: Sequence[Intervention],
        counters: Sequence[ChangeCounter],
        removers: Sequence[Callable[[], None]],
    ) -> None:
        super().__init__(removers)
        self.interventions = tuple(interventions)
        self._counters = tuple(counters)

    def record(self) -> list[dict[str, Any]]:
        """Per intervention: its description plus ``positions_changed`` (prompt, generated)."""
        return [
            {**iv.describe(), "positions_changed": counter.totals()}
            for iv, counter in zip(self.interventions, self._counters, strict=True)
        ]
