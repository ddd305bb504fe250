"""Which token positions an intervention changes, in a left-padded batch, with or without a KV cache.

Position semantics (every result records which one was used):

* ``"all"``: every real (non-pad) token: the prompt and every generated token.
* ``"prompt"``: the prompt's tokens only.
* ``"generated"``: only positions whose *input* is a generated token. The first generated token is
  predicted from the prompt's last position, so it is never affected by ``generated`` steering.
* ``PositionWindow(start, stop)``: tokens whose index in their row's unpadded sequence (prompt and
  generation together, 0 = first prompt token) lies in ``[start, stop)``.

During generation, "the prompt" is what the first forward call of a generation sees; with the KV
cache every later call sees one new position per row. A call is the first of a generation when the
cache is empty, unless (without a cache) its tokens extend the previous call's tokens. For a single
teacher-forced forward over prompt + continuation, pin ``prompt_lengths`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from activation_store.core.errors import InputError

PositionMode = Literal["all", "prompt", "generated"]


@dataclass(frozen=True)
class PositionWindow:
    """Token indices ``[start, stop)`` within each row's unpadded sequence (``stop=None``: to the end)."""

    start: int
    """First token index changed (0 = the first prompt token, usually BOS)."""
    stop: int | None = None
    """One past the last token index changed; ``None`` for no end."""

    def __post_init__(self) -> None:
        if self.start < 0 or (self.stop is not None and self.stop <= self.start):
            raise InputError(
                f"position window {self.start}:{self.stop} is empty or negative; "
                "write START:STOP with 0 <= START < STOP (or START: for no end)"
            )

    def __str__(self) -> str:
        return f"{self.start}:{'' if self.stop is None else self.stop}"


Positions = PositionMode | PositionWindow
_WINDOW = re.compile(r"^(\d+):(\d*)$")


def parse_positions(text: str | PositionWindow) -> Positions:
    """``"all"``, ``"prompt"``, ``"generated"``, or a window ``"START:STOP"`` / ``"START:"``."""
    if isinstance(text, PositionWindow):
        return text
    if text in get_args(PositionMode):
        return text  # type: ignore[return-value]
    match = _WINDOW.match(text.strip())
    if not match:
        raise InputError(
            f"positions {text!r} not understood; use all, prompt, generated, or START:STOP "
            "(token indices in the unpadded sequence, e.g. 0:32)"
        )
    stop = int(match.group(2)) if match.group(2) else None
    return PositionWindow(int(match.group(1)), stop)


def describe_positions(positions: Positions) -> str:
    """The positions in words, for results and reports."""
    if isinstance(positions, PositionWindow):
        end = "the end" if positions.stop is None else str(positions.stop - 1)
        return f"token indices {positions.start}..{end} of each unpadded sequence"
    return {
        "all": "every non-pad position: the prompt and every generated token",
        "prompt": "the prompt's tokens only",
        "generated": "generated tokens only (their positions as inputs; the prompt is untouched)",
    }[positions]


@dataclass(frozen=True)
class CallPositions:
    """Where the tokens of one forward call sit in their rows."""

    token_index_BT: Int[Tensor, "batch pos"]
    """Index of each token in its row's unpadded sequence; -1 at pad positions."""
    generated_BT: Bool[Tensor, "batch pos"]
    """True where the input token was generated (not part of the prompt)."""

    def mask(self, positions: Positions) -> Bool[Tensor, "batch pos"]:
        """Which of this call's positions ``positions`` selects (never a pad)."""
        real_BT = self.token_index_BT >= 0
        if positions == "all":
            return real_BT
        if positions == "prompt":
            return real_BT & ~self.generated_BT
        if positions == "generated":
            return real_BT & self.generated_BT
        if not isinstance(positions, PositionWindow):
            raise InputError(f"unknown positions {positions!r}")
        inside_BT = self.token_index_BT >= positions.start
        if positions.stop is not None:
            inside_BT &= self.token_index_BT < positions.stop
        return inside_BT


def call_positions(
    mask_BS: Tensor,
    n_new: int,
    *,
    prompt_width: int | None = None,
    prompt_lengths: Tensor | None = None,
) -> CallPositions:
    """Positions of the last ``n_new`` columns of a 2-d attention mask ``[batch, past + n_new]``.

    Generated tokens are either the cache columns at or after ``prompt_width`` (tracked during
    generation) or, per row, token indices at or after ``prompt_lengths`` (pinned by the caller).
    """
    past = mask_BS.shape[1] - n_new
    mask_BS = mask_BS.to(torch.int64)
    new_BT = mask_BS[:, past:]
    # index of a token = real tokens before it; only the new columns are needed
    before_B1 = mask_BS[:, :past].sum(dim=1, keepdim=True)
    token_index_BT = (before_B1 + new_BT.cumsum(dim=1) - 1).masked_fill(new_BT == 0, -1)
    if prompt_lengths is not None:
        generated_BT = token_index_BT >= prompt_lengths.to(token_index_BT.device)[:, None]
    elif prompt_width is not None:
        columns_T = torch.arange(past, past + n_new, device=mask_BS.device)
        generated_BT = (columns_T >= prompt_width)[None, :].expand_as(token_index_BT)
    else:
        generated_BT = torch.zeros_like(token_index_BT, dtype=torch.bool)
    return CallPositions(token_index_BT=token_index_BT, generated_BT=generated_BT)


class PositionTracker:
    """Follows the forward calls of a model through generations and reports each call's positions.

    Feed it every call's inputs with :meth:`observe`; :attr:`current` is then the call's
    :class:`CallPositions`. ``prompt_lengths`` (one per row) pins what counts as the prompt, for a
    teacher-forced forward over prompt + continuation; otherwise the prompt is the first call of
    each generation (see the module docstring).
    """

    def __init__(self, prompt_lengths: Sequence[int] | None = None) -> None:
        self._pinned = None if prompt_lengths is None else torch.tensor(list(prompt_lengths))
        self._prompt_width = 0
        self._last_ids: Tensor | None = None
        self.current: CallPositions | None = None

    def observe(
        self,
        batch: int,
        n_new: int,
        *,
        attention_mask: Tensor | None,
        past: int,
        input_ids: Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> CallPositions:
        """Record one forward call: ``batch`` rows of ``n_new`` new tokens after ``past`` cached ones."""
        if attention_mask is not None and attention_mask.ndim == 2:
            past = attention_mask.shape[1] - n_new
            mask_BS = attention_mask
        else:
            mask_BS = torch.ones(batch, past + n_new, dtype=torch.bool, device=device)
        if self._pinned is not None and len(self._pinned) != batch:
            raise InputError(
                f"prompt_lengths has {len(self._pinned)} entries but the batch has {batch} rows; "
                "give one prompt length per row"
            )
        if past == 0 and not self._extends_last(input_ids):
            self._prompt_width = n_new
        self._last_ids = input_ids if past == 0 else None
        self.current = call_positions(
            mask_BS, n_new, prompt_width=self._prompt_width, prompt_lengths=self._pinned
        )
        return self.current

    def _extends_last(self, input_ids: Tensor | None) -> bool:
        """Without a cache, a call whose tokens extend the previous call's continues its generation."""
        last = self._last_ids
        if input_ids is None or last is None or input_ids.ndim != 2:
            return False
        if input_ids.shape[0] != last.shape[0] or input_ids.shape[1] <= last.shape[1]:
            return False
        return bool(torch.equal(input_ids[:, : last.shape[1]], last.to(input_ids.device)))
