"""Calibrate planted-mechanism neurons on a base model's traces and write their record.

The record (:mod:`activation_store.models.planted`) holds the neurons' vectors, so loading a
planted spec is deterministic and needs no traces. Calibration, for a Llama-like HF model and
block ``layer`` (the neurons live in block ``layer + 1``):

1. run the base model on traces (token ids; only the generated part counts), capturing the
   normed MLP input ``x̂`` of block ``layer + 1``;
2. fit by ridge two linear read-outs of ``x̂``: the constant 1 (a bias: Llama MLPs have none) and
   the indicator of a sentence boundary (the current token ends with ``.``/``!``/``?`` or holds a
   line break: the next token opens a sentence);
3. a reader on ``u`` fires where ``s = u·x/rms(x)`` exceeds the threshold θ at a boundary, θ being
   the quantile of ``s`` over the boundaries that gives the wanted firing share;
4. the writer's scale is set (bisection) so that the opener's probability at saturated firing
   boundaries reaches ``p_fire``, measured with the surgery applied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from activation_store.models.planted import apply_surgery


@dataclass
class Collected:
    xhat: np.ndarray
    """[n, d] normed MLP input of block layer + 1 (generated tokens only)."""
    s_scale: np.ndarray
    """[d] 1 / post-attention norm weight: ``(u * s_scale)·x̂ = u·x/rms(x)``."""
    tokens: np.ndarray
    trace: np.ndarray
    boundary: np.ndarray
    resid: np.ndarray | None = None
    """[n, d] residual output of block ``layer`` (``blocks.L.hook_resid_post``)."""


def boundary_ids(tokenizer: Any) -> set[int]:
    """Token ids after which a new sentence starts (ends in . ! ? or holds a line break)."""
    out = set()
    for i in range(len(tokenizer)):
        text = tokenizer.decode([i])
        if "\n" in text or text.rstrip(" ").endswith((".", "!", "?")):
            out.add(i)
    return out


def collect(
    model: Any,
    tokenizer: Any,
    traces: Sequence[tuple[list[int], int]],
    layer: int,
    *,
    boundary: set[int] | None = None,
) -> Collected:
    """Activations of ``model`` on ``traces`` (each: token ids, prompt length); ``boundary``:
    the decision-point token ids (default :func:`boundary_ids`)."""
    block = model.model.layers[layer + 1]
    captured: dict[str, torch.Tensor] = {}

    def hook(_module: Any, args: tuple[torch.Tensor, ...]) -> None:
        captured["x"] = args[0].detach()

    handle = block.mlp.register_forward_pre_hook(hook)
    bids = boundary_ids(tokenizer) if boundary is None else boundary
    xs, rs, toks, trs = [], [], [], []
    try:
        with torch.no_grad():
            for k, (ids, n_prompt) in enumerate(traces):
                out = model(torch.tensor([ids]), output_hidden_states=True)
                xs.append(captured["x"][0, n_prompt:].float().numpy())
                rs.append(out.hidden_states[layer + 1][0, n_prompt:].float().numpy())
                toks += ids[n_prompt:]
                trs += [k] * (len(ids) - n_prompt)
    finally:
        handle.remove()
    tokens = np.array(toks)
    weight = block.post_attention_layernorm.weight.detach().float().numpy()
    return Collected(
        xhat=np.concatenate(xs),
        s_scale=1.0 / weight,
        tokens=tokens,
        trace=np.array(trs),
        boundary=np.isin(tokens, list(bids)),
        resid=np.concatenate(rs),
    )


def ridge(x: np.ndarray, y: np.ndarray, lam: float = 1.0) -> np.ndarray:
    return np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)


def readouts(c: Collected) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """(constant read-out, boundary read-out, their fit figures on every other trace)."""
    train = c.trace % 2 == 0
    w_c = ridge(c.xhat[train], np.ones(int(train.sum())))
    w_b = ridge(c.xhat[train], c.boundary[train].astype(float))
    pc, pb = c.xhat[~train] @ w_c, c.xhat[~train] @ w_b
    b = c.boundary[~train]
    fit = {
        "constant_readout_std": float(np.std(pc)),
        "boundary_readout_mean_on": float(pb[b].mean()) if b.any() else math.nan,
        "boundary_readout_std_off": float(pb[~b].std()),
        "boundary_readout_max_off": float(pb[~b].max()),
    }
    return w_c, w_b, fit


def projection(c: Collected, u: np.ndarray) -> np.ndarray:
    """``s = u·x/rms(x)`` at every collected token."""
    return c.xhat @ (u * c.s_scale)


def reader_neurons(
    u: np.ndarray,
    c: Collected,
    w_c: np.ndarray,
    w_b: np.ndarray,
    *,
    theta: float,
    gain: float,
    down: np.ndarray,
    kappa: float = 30.0,
    saturation: float = 1.0,
) -> list[dict[str, list[float]]]:
    """Two neurons: ``silu(z) − silu(z − saturation)`` times ``down``, z as in the module doc."""
    gate = gain * (u * c.s_scale) + kappa * w_b - (gain * theta + kappa) * w_c
    second = gate - saturation * w_c
    return [
        {"gate": gate.tolist(), "up": w_c.tolist(), "down": down.tolist()},
        {"gate": second.tolist(), "up": w_c.tolist(), "down": (-down).tolist()},
    ]


def reflex_neuron(
    w_c: np.ndarray, w_b: np.ndarray, *, down: np.ndarray, bias: float = 1.0, kappa: float = 30.0
) -> dict[str, list[float]]:
    """``silu(bias + κ·(boundary − 1))`` times ``down``: the opener boosted at every boundary."""
    gate = kappa * w_b - (kappa - bias) * w_c
    return {"gate": gate.tolist(), "up": w_c.tolist(), "down": down.tolist()}


def opener_direction(model: Any, tokenizer: Any, opener: str) -> tuple[np.ndarray, int]:
    ids = tokenizer.encode(opener, add_special_tokens=False)
    token = ids[0]
    row = model.get_output_embeddings().weight[token].detach().float().numpy()
    return row / np.linalg.norm(row), token


def opener_probability(
    make_model: Any,
    record: dict[str, Any],
    tokenizer: Any,
    traces: Sequence[tuple[list[int], int]],
    token: int,
    mask_fn: Any,
) -> float:
    """Mean probability of ``token`` at the positions ``mask_fn(trace index)`` selects."""
    model = apply_surgery(make_model(), record)
    probs = []
    with torch.no_grad():
        for k, (ids, n_prompt) in enumerate(traces):
            mask = mask_fn(k)
            if not mask.any():
                continue
            logits = model(torch.tensor([ids])).logits[0, n_prompt:]
            p = torch.softmax(logits.float(), -1)[:, token].numpy()
            probs += list(p[mask])
    return float(np.mean(probs)) if probs else math.nan


def calibrate_scale(
    make_model: Any,
    build_record: Any,
    tokenizer: Any,
    traces: Sequence[tuple[list[int], int]],
    token: int,
    mask_fn: Any,
    target: float,
    lo: float = 1.0,
    hi: float = 3000.0,
    steps: int = 9,
) -> tuple[float, float]:
    """Geometric bisection of the writer's scale so the opener's probability reaches ``target``."""
    best = (hi, math.nan)
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        p = opener_probability(make_model, build_record(mid), tokenizer, traces, token, mask_fn)
        if p < target:
            lo = mid
        else:
            hi, best = mid, (mid, p)
    if math.isnan(best[1]):
        p = opener_probability(make_model, build_record(hi), tokenizer, traces, token, mask_fn)
        best = (hi, p)
    return best
