"""Perplexity of generated tokens under the unsteered model: the coherence check for steering."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

LOGIT_CHUNK = 1024
"""Positions whose logits are materialised at once (1024 × 128k floats = 0.5 GB)."""

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def generation_perplexities(
    hf_model: PreTrainedModel,
    prompts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[int]],
    *,
    pad_id: int,
    batch_size: int = 16,
) -> list[float | None]:
    """``exp(mean NLL)`` of each continuation given its prompt, teacher-forced, in batches.

    Call it with no interventions installed: it measures how surprising the steered text is to the
    model it came from. Rows are right-padded; an empty continuation gives None.
    """
    out: list[float | None] = []
    device = next(hf_model.parameters()).device
    for start in range(0, len(prompts), batch_size):
        rows = [
            (list(p), list(c))
            for p, c in zip(
                prompts[start : start + batch_size],
                continuations[start : start + batch_size],
                strict=True,
            )
        ]
        out.extend(_batch(hf_model, rows, pad_id, device))
    return out


def _batch(
    hf_model: PreTrainedModel,
    rows: list[tuple[list[int], list[int]]],
    pad_id: int,
    device: torch.device,
) -> list[float | None]:
    width = max(len(p) + len(c) for p, c in rows)
    ids_BS = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask_BS = torch.zeros((len(rows), width), dtype=torch.long)
    target_BS = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (prompt, cont) in enumerate(rows):
        ids_BS[i, : len(prompt) + len(cont)] = torch.tensor(prompt + cont)
        mask_BS[i, : len(prompt) + len(cont)] = 1
        target_BS[i, len(prompt) : len(prompt) + len(cont)] = True
    with torch.no_grad():
        hidden_BSD = hf_model.base_model(
            input_ids=ids_BS.to(device), attention_mask=mask_BS.to(device)
        ).last_hidden_state
        # Logits only where a generated token is predicted, a chunk at a time: the full
        # [batch, seq, vocab] tensor of an 8B model would not fit (16 × 1500 × 128k floats).
        predicts_BS = target_BS[:, 1:].to(device)
        hidden_ND = hidden_BSD[:, :-1][predicts_BS]
        targets_N = ids_BS[:, 1:].to(device)[predicts_BS]
        head = hf_model.get_output_embeddings()
        nll_N = (
            torch.cat(
                [
                    torch.nn.functional.cross_entropy(
                        head(hidden_ND[i : i + LOGIT_CHUNK]).float(),
                        targets_N[i : i + LOGIT_CHUNK],
                        reduction="none",
                    )
                    for i in range(0, len(targets_N), LOGIT_CHUNK)
                ]
            )
            if len(targets_N)
            else torch.zeros(0, device=device)
        )
    row_N = predicts_BS.nonzero()[:, 0]
    totals = torch.zeros(len(rows), device=device).index_add_(0, row_N, nll_N.float())
    counts = predicts_BS.sum(dim=1).tolist()
    return [math.exp(t / n) if n else None for t, n in zip(totals.tolist(), counts, strict=True)]
