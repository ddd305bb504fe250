"""Per-row interventions: each row of a batch gets its own cell's interventions (or none).

A *cell* is a list of :class:`~experiments.steering.interventions.intervention.Intervention`
(possibly empty: unsteered). :func:`steer_hf_rows` installs every cell's interventions on a plain
Hugging Face model at once; before each forward call the caller says which cell each batch row
belongs to and how long each row's prompt is (:meth:`RowSteeringHandle.assign`), so rows of
different cells — different directions, α, operators, hooks or positions — share one batch:

>>> cells = [[], add_interventions([d], [8.0]), ablate_interventions([d], ["blocks.1.hook_resid_post"])]
>>> with steer_hf_rows(hf_model, cells, n_rows=len(prompts)) as handle:
...     for done in stream(hf_model, tok, prompts, config, groups=cell_of,
...                        on_forward=lambda rows, lens, shared: handle.assign(
...                            rows, [cell_of[r] for r in rows], lens, shared)):
...         ...
>>> handle.record(cell=1, rows=[0, 3])   # as SteeringHandle.record, summed over those rows

Each cell's rows are changed exactly as :func:`~experiments.steering.interventions.hf.steer_hf`
changes a batch of that cell alone (same operator call on those rows; other rows untouched; a
batch of one cell is passed whole). Positions follow each row's own attention mask and prompt
length (``all``, ``prompt``, ``generated``, windows: the semantics of
:mod:`~experiments.steering.interventions.positions`). Changed positions are counted per row
(request index ``0..n_rows-1``), on the device, without syncing. :meth:`RowSteeringHandle.paused`
turns every hook into the identity (e.g. for scoring under the unsteered model in between).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from activation_store.core.errors import InputError
from activation_store.models.convert import architecture_of
from activation_store.models.hooks import GPT2_LIKE
from experiments.steering.interventions.handle import HookHandle
from experiments.steering.interventions.hf import _input_hook, _output_hook, _target
from experiments.steering.interventions.intervention import Intervention
from experiments.steering.interventions.positions import CallPositions, call_positions
from experiments.steering.interventions.validation import check_interventions

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class RowSteeringHandle(HookHandle):
    """Per-row interventions installed on a model (a :class:`HookHandle`); see the module
    docstring."""

    def __init__(self, cells: Sequence[Sequence[Intervention]], n_rows: int) -> None:
        super().__init__()
        self.cells = tuple(tuple(c) for c in cells)
        self.n_rows = n_rows
        self._paused = False
        self._rows: Tensor | None = None
        self._cells_of_rows: list[int] = []
        self._cell_index: dict[int, Tensor] = {}
        self._prompt_lengths: Tensor | None = None
        self._credit: tuple[Tensor, Tensor] | None = None
        self.current: CallPositions | None = None
        width = max((len(c) for c in self.cells), default=0)
        self._counts: Tensor | None = None  # [n_rows, width, 2] on the activations' device
        self._width = max(1, width)

    # -- set by the caller ------------------------------------------------------------------------
    def assign(
        self,
        rows: Sequence[int],
        cells: Sequence[int],
        prompt_lengths: Sequence[int],
        shared: Sequence[Sequence[int]] | None = None,
    ) -> None:
        """Before a forward call: batch row ``b`` is request ``rows[b]`` of cell ``cells[b]``,
        whose prompt has ``prompt_lengths[b]`` tokens. ``shared[b]`` (a prompt prefix computed
        once for several requests of one cell) lists the requests credited with row ``b``'s
        changed positions instead of ``rows[b]`` alone."""
        if not len(rows) == len(cells) == len(prompt_lengths):
            raise InputError("assign needs one request, cell and prompt length per batch row")
        bad = [c for c in cells if not 0 <= c < len(self.cells)]
        if bad:
            raise InputError(f"cell {bad[0]} unknown; there are {len(self.cells)} cells")
        self._rows = torch.tensor(list(rows), dtype=torch.long)
        self._cells_of_rows = list(cells)
        by_cell: dict[int, list[int]] = {}
        for b, c in enumerate(cells):
            by_cell.setdefault(c, []).append(b)
        self._cell_index = {c: torch.tensor(bs, dtype=torch.long) for c, bs in by_cell.items()}
        self._prompt_lengths = torch.tensor(list(prompt_lengths), dtype=torch.long)
        self._credit = None
        if shared is not None:
            pairs = [(b, r) for b, requests in enumerate(shared) for r in requests]
            self._credit = (
                torch.tensor([b for b, _ in pairs], dtype=torch.long),
                torch.tensor([r for _, r in pairs], dtype=torch.long),
            )

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Inside, every hook leaves activations unchanged and counts nothing."""
        before, self._paused = self._paused, True
        try:
            yield
        finally:
            self._paused = before

    # -- called by the hooks ----------------------------------------------------------------------
    def _observe(self, attention_mask: Tensor | None, batch: int, n_new: int, device: Any) -> None:
        if self._paused:
            return
        if self._prompt_lengths is None or len(self._prompt_lengths) != batch:
            raise InputError(
                f"a forward call of {batch} rows came without a matching assign(); call "
                "assign(rows, cells, prompt_lengths) before each forward call"
            )
        if attention_mask is not None and attention_mask.ndim == 2:
            mask_BS = attention_mask
        else:
            mask_BS = torch.ones(batch, n_new, dtype=torch.long, device=device)
        self.current = call_positions(mask_BS, n_new, prompt_lengths=self._prompt_lengths)

    def _edit(self, hook: str, resid_BTD: Tensor) -> Tensor:
        if self._paused:
            return resid_BTD
        positions = self.current
        if positions is None or positions.token_index_BT.shape != resid_BTD.shape[:2]:
            raise InputError(
                f"activation of shape {tuple(resid_BTD.shape)} at {hook} does not match the "
                "observed call; per-row steering needs the model's own forward call"
            )
        whole = len(self._cell_index) == 1
        out = resid_BTD
        for cell, index in self._cell_index.items():
            for j, iv in enumerate(self.cells[cell]):
                if iv.hook != hook:
                    continue
                mask_BT = positions.mask(iv.positions)
                if whole:
                    self._count(mask_BT, positions.generated_BT, None, j)
                    out = iv.operator(out, mask_BT)
                    continue
                index_d = index.to(resid_BTD.device)
                mask_bt = mask_BT.index_select(0, index_d)
                self._count(mask_bt, positions.generated_BT.index_select(0, index_d), index, j)
                if out is resid_BTD:
                    out = resid_BTD.clone()
                changed = iv.operator(out.index_select(0, index_d), mask_bt)
                out.index_copy_(0, index_d, changed)
        return out

    def _count(self, mask_BT: Tensor, generated_BT: Tensor, index: Tensor | None, j: int) -> None:
        assert self._rows is not None
        if self._counts is None or self._counts.device != mask_BT.device:
            self._counts = torch.zeros(
                self.n_rows, self._width, 2, dtype=torch.long, device=mask_BT.device
            )
        step_B2 = torch.stack(
            [(mask_BT & ~generated_BT).sum(dim=1), (mask_BT & generated_BT).sum(dim=1)], dim=1
        )
        if self._credit is None:
            rows = self._rows if index is None else self._rows.index_select(0, index)
            self._counts[:, j].index_add_(0, rows.to(mask_BT.device), step_B2)
            return
        full_B2 = step_B2
        if index is not None:
            full_B2 = step_B2.new_zeros(len(self._rows), 2)
            full_B2[index.to(step_B2.device)] = step_B2
        source, credited = (t.to(mask_BT.device) for t in self._credit)
        self._counts[:, j].index_add_(0, credited, full_B2.index_select(0, source))

    # -- results ----------------------------------------------------------------------------------
    def record(self, cell: int, rows: Sequence[int]) -> list[dict[str, Any]]:
        """Per intervention of ``cell``: its description and the positions it changed (prompt,
        generated) in requests ``rows``, summed — what ``SteeringHandle.record`` says for a batch
        of those rows."""
        if self._counts is None or not rows:
            totals = torch.zeros(self._width, 2, dtype=torch.long)
        else:
            index = torch.tensor(list(rows), dtype=torch.long, device=self._counts.device)
            totals = self._counts.index_select(0, index).sum(dim=0).cpu()
        return [
            {
                **iv.describe(),
                "positions_changed": {
                    "prompt": int(totals[j, 0]),
                    "generated": int(totals[j, 1]),
                },
            }
            for j, iv in enumerate(self.cells[cell])
        ]


def steer_hf_rows(
    hf_model: PreTrainedModel, cells: Sequence[Sequence[Intervention]], *, n_rows: int
) -> RowSteeringHandle:
    """Install every cell's interventions on ``hf_model``, each applied only to its cell's rows.

    ``n_rows`` is the number of requests whose changed positions are counted (request indices
    ``0..n_rows-1`` in :meth:`RowSteeringHandle.assign`). Validated before any hook is installed.
    """
    config = hf_model.config
    architecture = architecture_of(config)
    every = [iv for cell in cells for iv in cell]
    specs = check_interventions(
        every,
        n_layers=int(config.num_hidden_layers),
        d_model=int(config.hidden_size),
        has_pos_embed=architecture in GPT2_LIKE,
    )
    handle = RowSteeringHandle(cells, n_rows)
    targets: dict[str, tuple[torch.nn.Module, str, int | None]] = {}
    for spec in specs:
        targets.setdefault(spec.name, _target(hf_model, spec, architecture))
    h = hf_model.base_model.register_forward_pre_hook(_observer(handle), with_kwargs=True)
    handle._removers.append(h.remove)
    for hook, (module, where, index) in targets.items():

        def edit(resid: Tensor, hook: str = hook) -> Tensor:
            return handle._edit(hook, resid)

        if where == "input":
            h = module.register_forward_pre_hook(_input_hook(edit), with_kwargs=True)
        else:
            h = module.register_forward_hook(_output_hook(edit, index))
        handle._removers.append(h.remove)
    return handle


def _observer(handle: RowSteeringHandle) -> Callable[..., None]:
    def observe(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        reference = ids if ids is not None else kwargs.get("inputs_embeds")
        if reference is None:
            return
        handle._observe(
            kwargs.get("attention_mask"),
            int(reference.shape[0]),
            int(reference.shape[1]),
            reference.device,
        )

    return observe
