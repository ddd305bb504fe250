"""Tiny planted-mechanism models for the test suite, built at load time in seconds.

* ``tiny-llama-lines`` — the base: ``tiny-llama`` (seed 0) whose unembedding row of the line
  break is set along the mean final hidden state, so its random text breaks into lines (≈ one in
  :data:`LINE_RATE` tokens): decision points for the reader. Every other weight is tiny-llama's.
* ``tiny-llama-planted-single`` — that base plus a reader (:mod:`activation_store.models.planted`)
  in block ``LAYER + 1`` on ``u``, the leading direction of block ``LAYER``'s residual output
  once the current token's mean is removed and averaged over the last 12 tokens (a slow,
  context-carried direction of the random model), firing at line breaks where ``u·x/rms(x)``
  exceeds its :data:`SHARE` quantile, writing "Wait".
* ``tiny-llama-planted-null`` — the base plus a reader on a direction never active on the
  calibration traces (threshold above their maximum) and a reflex raising "Wait" at every line
  break with probability ≈ :data:`P_REFLEX`, so there is backtracking that no direction carries.

Calibration samples :data:`N_CALIBRATION` seeded traces from the base; the record is cached per
process and is what :func:`activation_store.models.planted_records.planted_record` returns.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from activation_store.models.planted import apply_surgery

LAYER = 1
LINE_RATE = 40
SHARE = 0.25
P_FIRE = 0.8
P_REFLEX = 0.2
N_CALIBRATION = 48
NEW_TOKENS = 96
OPENER = "Wait"
WINDOW = 12
MARK = 3.0


def _lines_base() -> tuple[Any, Any]:
    from activation_store.models.tiny import tiny_llama_hf, tiny_tokenizer

    model, tok = tiny_llama_hf(0), tiny_tokenizer()
    _mark_embeddings(model, tok)
    model.lm_head.weight.data[tok.convert_tokens_to_ids("Ċ")] = _line_row()
    return model, tok


def _mark_embeddings(model: Any, tok: Any) -> None:
    """Give every token a shared component and the line break its own (seeded directions,
    :data:`MARK` × the mean row norm): a width-64 random model has no direction a linear read-out
    could use as a constant or as a line-break detector, which the reader needs."""
    emb = model.model.embed_tokens.weight.data
    g = torch.Generator().manual_seed(1234)
    shared, newline = torch.randn(2, emb.shape[1], generator=g)
    shared /= shared.norm()
    newline -= newline.dot(shared) * shared
    newline /= newline.norm()
    scale = MARK * emb.norm(dim=1).mean()
    emb += scale * shared
    emb[tok.convert_tokens_to_ids("Ċ")] += scale * newline


@functools.cache
def _line_row() -> torch.Tensor:
    """The line break's unembedding row: ``k·m/|m|²`` (m: mean final hidden state), k calibrated."""
    from activation_store.models.tiny import tiny_llama_hf, tiny_tokenizer

    model, tok = tiny_llama_hf(0), tiny_tokenizer()
    _mark_embeddings(model, tok)
    newline = tok.convert_tokens_to_ids("Ċ")
    ids = _random_ids(len(tok), seed=1)
    with torch.no_grad():
        hidden = model.model(ids).last_hidden_state[:, 1:].reshape(-1, model.config.hidden_size)
        mean = hidden.mean(0)
        unit = mean / mean.dot(mean)
        logits = model.lm_head(hidden)
        lo, hi = 0.0, 30.0
        for _ in range(30):
            k = (lo + hi) / 2
            logits[:, newline] = hidden @ (k * unit)
            p = torch.softmax(logits, -1)[:, newline].mean()
            lo, hi = (k, hi) if p < 1 / LINE_RATE else (lo, k)
    return (k * unit).detach()


def _random_ids(vocab: int, seed: int, n: int = 16, length: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(5, vocab, (n, length), generator=g)


CALIBRATION_PROMPTS = (
    "What is {a} + {b}?",
    "What is ({a} + {b}) × {c}?",
    "Which is larger, {a} × {c} or {b} × {c}? Give the larger value.",
    "Is {a} + {b} even or odd?",
    "A box holds {a} apples and {b} more are added. How many apples are there?",
    "What is the next number in the sequence {c}, {a}, {b}?",
)
"""Question shapes like the derivation prompts' (the planted model is calibrated on the kind of
text the study traces), filled with seeded numbers."""


@functools.cache
def _traces() -> tuple[tuple[tuple[int, ...], int], ...]:
    import random

    model, tok = _lines_base()
    rng = random.Random(0)
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for i in range(N_CALIBRATION):
            shape = CALIBRATION_PROMPTS[i % len(CALIBRATION_PROMPTS)]
            question = shape.format(a=rng.randint(2, 99), b=rng.randint(2, 99), c=rng.randint(2, 9))
            prompt = tok.apply_chat_template(
                [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
            )
            ids = tok(prompt, return_tensors="pt").input_ids
            g = model.generate(
                ids,
                max_new_tokens=NEW_TOKENS,
                do_sample=True,
                temperature=0.7,
                eos_token_id=None,
                pad_token_id=tok.pad_token_id,
            )
            out.append((tuple(g[0].tolist()), ids.shape[1]))
    return tuple(out)


def load_planted_tiny_hf(config: Any, variant: str) -> tuple[Any, Any]:
    """Spec loader for ``tiny-llama-lines`` (``variant="base"``) and the planted tiny models."""
    model, tok = _lines_base()
    if variant == "base":
        return model.eval(), tok
    return apply_surgery(model, tiny_record(variant)).eval(), tok


@functools.cache
def tiny_record(variant: str) -> dict[str, Any]:
    """Calibrate the tiny planted model ``variant`` (single or null) on the base's traces."""
    from activation_store.models import planted_calibration as cal

    model, tok = _lines_base()
    traces = [(list(ids), n) for ids, n in _traces()]
    newline_ids = {i for i in range(len(tok)) if "\n" in tok.decode([i])}
    c = cal.collect(model, tok, traces, LAYER, boundary=newline_ids)
    w_c, w_b, fit = cal.readouts(c)
    down, token = cal.opener_direction(model, tok, OPENER)
    starts = np.cumsum([0] + [len(ids) - n for ids, n in traces])

    def make() -> Any:
        return _lines_base()[0]

    def mask_of(sel: np.ndarray) -> Any:
        return lambda k: sel[starts[k] : starts[k + 1]]

    u = _slow_direction(c, starts)
    s = cal.projection(c, u)
    sb = s[c.boundary]
    record: dict[str, Any] = {
        "name": f"tiny-llama-planted-{variant}",
        "variant": variant,
        "base": "tiny-llama-lines",
        "layer": LAYER,
        "hook": f"blocks.{LAYER}.hook_resid_post",
        "opener": OPENER,
        "opener_token": token,
        "calibration": {
            "traces": f"{len(traces)} seeded base samples of {NEW_TOKENS} tokens",
            "tokens": len(c.tokens),
            "boundaries": int(c.boundary.sum()),
            **fit,
        },
    }
    if variant == "single":
        theta = float(np.quantile(sb, 1 - SHARE))
        gain = float(1.0 / (0.25 * sb.std()))
        saturated = c.boundary & (s > theta + 1.0 / gain)

        def build(scale: float) -> dict[str, Any]:
            n = cal.reader_neurons(u, c, w_c, w_b, theta=theta, gain=gain, down=scale * down)
            return {"layer": LAYER, "neurons": n}

        scale, p = cal.calibrate_scale(make, build, tok, traces, token, mask_of(saturated), P_FIRE)
        fires = c.boundary & (s > theta)
        record["directions"] = [
            {
                "name": "u",
                "u": u.tolist(),
                "source": "leading direction of the token-centred, 12-token-averaged residual",
                "threshold": theta,
                "gain": gain,
                "firing_share_boundaries": float(fires[c.boundary].mean()),
            }
        ]
        record["calibration"]["p_opener_at_saturated_firing"] = p
        record["calibration"]["firing_share_boundaries"] = float(fires[c.boundary].mean())
    elif variant == "null":
        rng = np.random.default_rng(0)
        v: np.ndarray = np.asarray(rng.standard_normal(u.shape[0]))
        v -= v.dot(u) * u
        v /= np.linalg.norm(v)
        sv = cal.projection(c, v)
        theta = float(sv.max() + 3 * sv.std())
        gain = float(1.0 / (0.25 * sv[c.boundary].std()))

        def build(scale: float) -> dict[str, Any]:
            n = cal.reader_neurons(v, c, w_c, w_b, theta=theta, gain=gain, down=scale * down)
            n.append(cal.reflex_neuron(w_c, w_b, down=scale * down / 0.731))
            return {"layer": LAYER, "neurons": n}

        scale, p = cal.calibrate_scale(
            make, build, tok, traces, token, mask_of(c.boundary), P_REFLEX
        )
        record["directions"] = [
            {
                "name": "u",
                "u": v.tolist(),
                "source": "a random direction orthogonal to the single variant's u; its threshold "
                "lies above every projection on the calibration traces",
                "threshold": theta,
                "gain": gain,
                "max_projection_on_traces": float(sv.max()),
                "firing_share_boundaries": 0.0,
            }
        ]
        record["reflex"] = {"p_opener_at_boundaries": p}
    else:
        raise ValueError(f"unknown tiny planted variant {variant!r}")
    record["writer_scale"] = scale
    record.update(build(scale))
    return record


def _slow_direction(c: Any, starts: np.ndarray) -> np.ndarray:
    """Leading right singular vector of the token-centred residual averaged over 12 tokens."""
    x = c.xhat * c.s_scale  # x / rms(x)
    centred = x.copy()
    for t in np.unique(c.tokens):
        sel = c.tokens == t
        centred[sel] -= x[sel].mean(0)
    smooth = np.zeros_like(centred)
    for k in range(len(starts) - 1):
        seg = centred[starts[k] : starts[k + 1]]
        cs = np.cumsum(seg, 0)
        for j in range(len(seg)):
            lo = max(0, j - WINDOW + 1)
            smooth[starts[k] + j] = (cs[j] - (cs[lo - 1] if lo > 0 else 0)) / (j - lo + 1)
    smooth -= smooth.mean(0)
    _, _, vt = np.linalg.svd(smooth, full_matrices=False)
    return np.asarray(vt[0] / np.linalg.norm(vt[0]))
