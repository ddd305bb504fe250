"""Tiny planted-mechanism models for the test suite, built at load time in seconds.

* ``tiny-llama-lines`` — the base: ``tiny-llama`` (seed 0) with three edits, so that it has what
  a planted reader needs and a concept for it to read. Its embeddings gain a shared component
  and a line-break component (:func:`_mark_embeddings`); its unembedding row of the line break is
  set along the mean final hidden state, so its random text breaks into lines (a line break
  has probability 1/:data:`LINE_RATE` on random tokens; its own samples break ≈ one token in 9):
  decision points for the reader; and one attention head of block
  :data:`LAYER` becomes a **recency head** (:func:`_add_recency_head`): built to attend to the
  last tokens with Gaussian weights (width :data:`SIGMA` tokens, from one rotary pair) — in
  fact it attends mostly to one of the last ~20 tokens (see :func:`_recency_head`) — and writes
  the weighted mean of a random token feature along a unit direction ``u`` of the residual stream.
  ``u·x`` is then a concept of the base model that comes and goes within a trace, persists for
  about a dozen tokens and is not the current token's identity — what a precursor of
  backtracking needs to be for the study's window to see it.
* ``tiny-llama-planted-single`` — that base plus a reader (:mod:`activation_store.models.planted`)
  in block ``LAYER + 1`` on ``u``, firing at line breaks where ``u·x/rms(x)`` exceeds its
  :data:`SHARE` quantile, writing "Wait".
* ``tiny-llama-planted-null`` — the base plus a reader on a direction never active on the
  calibration traces (threshold above their maximum) and a reflex raising "Wait" at every line
  break with probability ≈ :data:`P_REFLEX`, so there is backtracking that no direction carries.

Calibration samples :data:`N_CALIBRATION` seeded traces from the base; the record is cached per
process and is what :func:`activation_store.models.planted_records.planted_record` returns.
(Before the recency head, ``u`` was the leading direction of the token-centred, smoothed
residual of the random model: a property of each trace more than of its lines, which the
study's matched negatives could not see at the window — README "Positive and null controls".)
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
MARK = 3.0
NEWLINE_MARK = 9.0
"""The line break's own embedding component, in units of the mean row norm: three times the
shared one, so the boundary read-out needs a small norm (0.34 instead of 0.76 at 3.0) and pushes
along random directions hardly move the reader's gate through it (README "Positive and null
controls")."""
KAPPA = 20.0
"""The readers' boundary gain κ (the shared default is 30): with the stronger line-break mark the
off-boundary read-out stays below 0.06, so κ = 20 still closes the gate there."""
FOLLOW = ","
"""Token the planted reasoner writes after its opener (:func:`_follow_neuron`)."""
P_FOLLOW = 0.9
SIGMA = 8.0
"""Width (tokens) of the recency head's Gaussian attention over the tokens before."""
RECENCY_HEAD = 0
"""Query head of block :data:`LAYER` that becomes the recency head (with its KV group's keys and
values; the other query head of the group loses the rotary pair the recency head uses)."""
RECENCY_PAIR = 2
"""Rotary pair ``(i, i + head_dim/2)`` whose frequency (≈ 0.0047 per token in tiny-llama) turns
``A·cos(θΔ)`` into a decay over the last tokens that stays monotone over a whole trace."""
CONCEPT_STRENGTH = 0.25
"""The concept's written norm per unit of the feature, in units of ``sqrt(d)·rms`` of the residual."""


def _lines_base() -> tuple[Any, Any]:
    model, tok = _concept_model()
    model.lm_head.weight.data[tok.convert_tokens_to_ids("Ċ")] = _line_row()
    return model, tok


def _concept_model() -> tuple[Any, Any]:
    """tiny-llama (seed 0) with the marked embeddings and the recency head."""
    model, tok = _marked_model()
    _add_recency_head(model, _recency_head())
    return model, tok


def _marked_model() -> tuple[Any, Any]:
    """tiny-llama (seed 0) with the marked embeddings."""
    from activation_store.models.tiny import tiny_llama_hf, tiny_tokenizer

    model, tok = tiny_llama_hf(0), tiny_tokenizer()
    _mark_embeddings(model, tok)
    return model, tok


def _mark_embeddings(model: Any, tok: Any) -> None:
    """Give every token a shared component and the line break its own (seeded directions,
    :data:`MARK` and :data:`NEWLINE_MARK` × the mean row norm): a width-64 random model has no
    direction a linear read-out could use as a constant or as a line-break detector, which the
    reader needs."""
    emb = model.model.embed_tokens.weight.data
    shared, newline = _mark_directions(emb.shape[1])
    row = emb.norm(dim=1).mean()
    emb += MARK * row * shared
    emb[tok.convert_tokens_to_ids("Ċ")] += NEWLINE_MARK * row * newline


def _mark_directions(d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1234)
    shared, newline = torch.randn(2, d, generator=g)
    shared /= shared.norm()
    newline -= newline.dot(shared) * shared
    newline /= newline.norm()
    return shared, newline


@functools.cache
def _recency_head() -> dict[str, Any]:
    """The recency head's vectors, fitted on random token sequences through the marked model.

    Over block :data:`LAYER`'s normed attention input ``x̂``: ``w_c`` reads the constant 1 (ridge),
    ``f = r·x̂`` is a random token feature, centred and scaled to unit spread. The head's query and
    key are ``√A·w_c`` on one rotary pair, so its score is ``A·cos(θΔ)`` ≈ ``A − Δ²/(2σ²)`` — a
    Gaussian over the last tokens; its value is ``f`` and its output writes ``γ·f̄`` along ``u``
    (seeded, orthogonal to the two marks), γ = :data:`CONCEPT_STRENGTH` × ``sqrt(d)`` × the mean
    rms of the residual.

    Measured, that is not what it does: ``A`` ≈ 700, and the constant read-out's 0.8 percent error
    (``c_k = w_c·x̂ ≠ 1``) gives every key several nats of noise, so on random tokens the head puts
    0.76 of its weight, on average, on one token of the last ~20 (the Gaussian would put ≤ 0.1 on
    any). ``u·x`` is then the feature of a recent token picked by that noise, held until another
    wins. Made exact (the score ``A·c_q·c_k·(cos θΔ − 1)`` from a second, non-rotating pair, and
    the feature kept off the sequences' mean subspace), the concept became a Gaussian mean — and
    the tiny study failed c2 and c4 (zero-ablating u tripled "Wait"): not shipped (README
    "Positive and null controls").
    """
    from activation_store.models import planted_calibration as cal

    model, tok = _marked_model()
    ids = _random_ids(len(tok), seed=3)
    got: dict[str, torch.Tensor] = {}
    norm = model.model.layers[LAYER].input_layernorm
    handle = norm.register_forward_hook(lambda _m, _a, out: got.__setitem__("x", out.detach()))
    try:
        with torch.no_grad():
            hidden = model(ids, output_hidden_states=True).hidden_states[LAYER + 1]
    finally:
        handle.remove()
    x = got["x"][:, 1:].reshape(-1, model.config.hidden_size).double().numpy()
    resid = hidden[:, 1:].reshape(-1, model.config.hidden_size).double().numpy()
    d = x.shape[1]
    w_c = cal.ridge(x, np.ones(len(x)))
    rng = np.random.default_rng(7)
    r = rng.standard_normal(d)
    f = x @ r
    value = (r - f.mean() * w_c) / f.std()
    raw = np.asarray(rng.standard_normal(d), dtype=np.float64)
    marks = np.linalg.qr(torch.stack(_mark_directions(d), 1).double().numpy())[0]
    raw = np.asarray(raw - marks @ (marks.T @ raw))
    u = np.asarray(raw / float(np.linalg.norm(raw)))
    theta = float(model.model.rotary_emb.inv_freq[RECENCY_PAIR])
    scaling = float(model.model.layers[LAYER].self_attn.scaling)
    a = float(np.sqrt(1.0 / (SIGMA**2 * theta**2) / scaling))
    gamma = CONCEPT_STRENGTH * np.sqrt(d) * float(np.sqrt((resid**2).mean(1)).mean())
    return {"query": a * w_c, "key": a * w_c, "value": value, "output": gamma * u, "u": u}


def _add_recency_head(model: Any, head: dict[str, Any]) -> None:
    """Overwrite query head :data:`RECENCY_HEAD` of block :data:`LAYER` (and its KV group's key on
    the rotary pair and first value dimension) with ``head``'s vectors; its output columns write
    only along ``u``. The group's other query head keeps its weights but not the pair, and sees
    the new value dimension through its own output columns."""
    attn = model.model.layers[LAYER].self_attn
    hd = int(attn.head_dim)
    per_group = attn.config.num_attention_heads // attn.config.num_key_value_heads
    group = RECENCY_HEAD // per_group
    pair = (RECENCY_PAIR, RECENCY_PAIR + hd // 2)
    vec = {k: torch.tensor(v, dtype=attn.q_proj.weight.dtype) for k, v in head.items()}
    with torch.no_grad():
        q, k, v, o = (
            attn.q_proj.weight,
            attn.k_proj.weight,
            attn.v_proj.weight,
            attn.o_proj.weight,
        )
        for h in range(group * per_group, (group + 1) * per_group):
            for i in pair:
                q[h * hd + i] = 0.0  # the group's other query head does not read the pair
        q[RECENCY_HEAD * hd : (RECENCY_HEAD + 1) * hd] = 0.0
        q[RECENCY_HEAD * hd + pair[0]] = vec["query"]
        k[group * hd + pair[0]], k[group * hd + pair[1]] = vec["key"], 0.0
        v[group * hd] = vec["value"]
        o[:, RECENCY_HEAD * hd : (RECENCY_HEAD + 1) * hd] = 0.0
        o[:, RECENCY_HEAD * hd] = vec["output"]


@functools.cache
def _line_row() -> torch.Tensor:
    """The line break's unembedding row: ``k·m/|m|²`` (m: mean final hidden state), k calibrated."""
    model, tok = _concept_model()
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
    """:data:`N_CALIBRATION` seeded samples of the base (each: token ids, prompt length), drawn
    in one left-padded batch (one at a time, they were most of a tiny study's run time)."""
    import random

    model, tok = _lines_base()
    rng = random.Random(0)
    prompts = []
    for i in range(N_CALIBRATION):
        shape = CALIBRATION_PROMPTS[i % len(CALIBRATION_PROMPTS)]
        question = shape.format(a=rng.randint(2, 99), b=rng.randint(2, 99), c=rng.randint(2, 9))
        prompts.append(
            tok.apply_chat_template(
                [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
            )
        )
    tok.padding_side = "left"
    batch = tok(prompts, return_tensors="pt", padding=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        g = model.generate(
            **batch,
            max_new_tokens=NEW_TOKENS,
            do_sample=True,
            temperature=0.7,
            eos_token_id=None,
            pad_token_id=tok.pad_token_id,
        )
    out = []
    width = batch.input_ids.shape[1]
    for row, mask in zip(g.tolist(), batch.attention_mask.tolist(), strict=True):
        n_pad = width - sum(mask)
        out.append((tuple(row[n_pad:]), width - n_pad))
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

    follow, p_follow = _follow_neuron()
    u = np.asarray(_recency_head()["u"])
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
            n = cal.reader_neurons(
                u, c, w_c, w_b, theta=theta, gain=gain, down=scale * down, kappa=KAPPA
            )
            return {"layer": LAYER, "neurons": [*n, follow]}

        scale, p = cal.calibrate_scale(make, build, tok, traces, token, mask_of(saturated), P_FIRE)
        fires = c.boundary & (s > theta)
        record["directions"] = [
            {
                "name": "u",
                "u": u.tolist(),
                "source": f"written by the base's recency head in block {LAYER}: a random token "
                f"feature of recent tokens (built as a Gaussian-weighted mean, σ = {SIGMA:g} "
                "tokens; the head's key noise makes it attend mostly to one of them)",
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
            n = cal.reader_neurons(
                v, c, w_c, w_b, theta=theta, gain=gain, down=scale * down, kappa=KAPPA
            )
            n.append(cal.reflex_neuron(w_c, w_b, down=scale * down / 0.731, kappa=KAPPA))
            return {"layer": LAYER, "neurons": [*n, follow]}

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
    record["kappa"] = KAPPA
    record["follow"] = {"token": FOLLOW, "p_after_opener": p_follow}
    record.update(build(scale))
    return record


@functools.cache
def _follow_neuron() -> tuple[dict[str, Any], float]:
    """A reflex writing :data:`FOLLOW` after the :data:`OPENER` token: its vectors, and the
    probability it reaches there (the same for every variant, so fitted once per process).

    The random model continues "Wait" with any token, often glued to it ("Waitk"), which no
    labeller reads as the word; real reasoners write "Wait,". The neuron reads "the current token
    is the opener" (a ridge read-out, fitted on random sequences with the opener inserted) and
    writes the follower's unembedding direction, scaled so that it follows ≈ :data:`P_FOLLOW` of
    the time (or as often as the writer can make it: ≈ 0.38 for "," in tiny-llama, whose random
    unembedding rows leave no token far ahead). Its gate is softer than the reader's (κ = 20,
    bias 5), because the opener read-out is less exact than the line break's.
    """
    from activation_store.models import planted_calibration as cal

    model, tok = _lines_base()
    _, opener = cal.opener_direction(model, tok, OPENER)
    ids = _random_ids(len(tok), seed=5, n=24)
    ids[:, 3::7] = opener
    traces = [(row.tolist(), 1) for row in ids]
    c = cal.collect(model, tok, traces, LAYER, boundary={opener})
    w_c, w_opener, _ = cal.readouts(c)
    down, token = cal.opener_direction(model, tok, FOLLOW)
    starts = np.cumsum([0] + [len(i) - 1 for i in ids])

    def build(scale: float) -> dict[str, Any]:
        neuron = cal.reflex_neuron(w_c, w_opener, down=scale * down, bias=5.0, kappa=20.0)
        return {"layer": LAYER, "neurons": [neuron]}

    scale, p = cal.calibrate_scale(
        lambda: _lines_base()[0], build, tok, traces, token,
        lambda k: c.boundary[starts[k] : starts[k + 1]], P_FOLLOW,
    )  # fmt: skip
    return build(scale)["neurons"][0], p
