"""Steering-strength calibration: residual norms and difference-of-means direction norms.

Steering sweeps are best stated in units of the mean residual norm at the steered layer; a
feasibility probe found that adding 0.5 × that norm destroys both models' output. These figures go
into the model card so later sweeps start in a sensible range. They are computed here directly
from Hugging Face hidden states (``hidden_states[L + 1]`` is ``blocks.L.hook_resid_post``); the
full study computes directions through the activation store and ``probes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from experiments.organism.chat import encode_trace
from experiments.organism.traces import SyntheticTrace


@dataclass(frozen=True, kw_only=True)
class DirectionNorm:
    """A difference-of-means direction at one layer and window, and how big it is."""

    layer: int
    window: tuple[int, int]
    """Token offsets relative to the first token of each backtracking sentence, inclusive."""
    n_events: int
    """Backtracks whose whole window lies inside the completion (others are skipped)."""
    norm: float
    """‖mean(window activations) − mean(all completion-token activations)‖."""
    mean_resid_norm: float
    """Mean ‖h‖ over all completion tokens at this layer."""


def hidden_states(
    hf_model: torch.nn.Module, ids: Sequence[int], layers: Sequence[int]
) -> dict[int, torch.Tensor]:
    """``{L: [pos, d_model]}`` residual stream after block L for one sequence (float32, CPU)."""
    with torch.no_grad():
        out = hf_model(torch.tensor([list(ids)], device=next(hf_model.parameters()).device),
                       output_hidden_states=True)  # fmt: skip
    return {layer: out.hidden_states[layer + 1][0].float().cpu() for layer in layers}


def backtrack_token_starts(tokenizer: object, trace: SyntheticTrace) -> tuple[list[int], int]:
    """Token indices (in the full example) of each backtracking sentence's first token; n_prompt."""
    example = encode_trace(tokenizer, trace)  # type: ignore[arg-type]
    enc = tokenizer(trace.completion, add_special_tokens=False, return_offsets_mapping=True)  # type: ignore[operator]
    starts = []
    for sentence in trace.backtracks:
        index = next(i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > sentence.start)
        starts.append(example.n_prompt + index)
    return starts, example.n_prompt


def direction_norms(
    hf_model: torch.nn.Module, tokenizer: object, traces: Sequence[SyntheticTrace],
    layers: Sequence[int], windows: Sequence[tuple[int, int]],
) -> list[DirectionNorm]:  # fmt: skip
    """Difference-of-means directions before backtracking sentences, teacher-forced on ``traces``.

    For each layer and window: mean over events of the window's mean activation, minus the mean
    over all completion tokens (the paper's recipe); windows reaching into the prompt are skipped.
    """
    d_model = int(getattr(getattr(hf_model, "config", None), "hidden_size", 0))
    total = {layer: torch.zeros(d_model, dtype=torch.float64) for layer in layers}
    norm_sum = dict.fromkeys(layers, 0.0)
    events: dict[tuple[int, tuple[int, int]], list[torch.Tensor]] = {}
    count = 0
    for trace in traces:
        starts, n_prompt = backtrack_token_starts(tokenizer, trace)
        ids = encode_trace(tokenizer, trace).input_ids  # type: ignore[arg-type]
        acts = hidden_states(hf_model, ids, layers)
        count += len(ids) - n_prompt
        for layer in layers:
            completion_PD = acts[layer][n_prompt:]
            total[layer] += completion_PD.double().sum(0)
            norm_sum[layer] += float(completion_PD.norm(dim=-1).sum())
            for lo, hi in windows:
                rows = [
                    acts[layer][s + lo : s + hi + 1].mean(0) for s in starts if s + lo >= n_prompt
                ]
                events.setdefault((layer, (lo, hi)), []).extend(rows)
    out = []
    for layer in layers:
        mean_all_D = (total[layer] / max(1, count)).float()
        for window in windows:
            rows = events.get((layer, window), [])
            norm = float((torch.stack(rows).mean(0) - mean_all_D).norm()) if rows else float("nan")
            out.append(DirectionNorm(layer=layer, window=window, n_events=len(rows), norm=norm,
                                     mean_resid_norm=norm_sum[layer] / max(1, count)))  # fmt: skip
    return out


def mean_resid_norms(
    hf_model: torch.nn.Module, sequences: Sequence[tuple[Sequence[int], int]], layers: Sequence[int]
) -> dict[int, float]:
    """Mean ‖h‖ over the generated tokens of ``(ids, n_prompt)`` sequences, per layer."""
    total, count = dict.fromkeys(layers, 0.0), 0
    for ids, n_prompt in sequences:
        acts = hidden_states(hf_model, ids, layers)
        for layer in layers:
            total[layer] += float(acts[layer][n_prompt:].norm(dim=-1).sum())
        count += len(ids) - n_prompt
    return {layer: total[layer] / max(1, count) for layer in layers}
