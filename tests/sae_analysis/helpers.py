"""Tiny SAEs built with sae_lens's own config classes, and synthetic stores with planted features.

The "span SAE" reconstructs every vector of a k-dimensional subspace exactly: its decoder rows are
an orthonormal basis B of the subspace and its negation, ``W_enc = W_dec.T`` and no biases, so
``decode(encode(x)) = Bᵀ relu(Bx) − Bᵀ relu(−Bx) = x`` for x in the span. Extra rows in a second
subspace never fire on such x. Directions in the rest of the space are orthogonal to every row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from activation_store.create import HookEntry, ModelEntry, create_store, prepare_model
from activation_store.labels import write_label
from activation_store.tokens import TokenTable
from activation_store.writer import ActivationWriter

HOOK = "blocks.1.hook_resid_post"
D_IN = 32
SPAN = 8
EXTRA = 8
MODEL_ID = "synthetic-model"


def orthonormal(d: int, seed: int) -> torch.Tensor:
    """A seeded random orthonormal basis of R^d (rows)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return q.T.float().contiguous()


def span_sae(
    *,
    seed: int = 0,
    hook_name: str | None = HOOK,
    model_name: str | None = MODEL_ID,
    d_in: int = D_IN,
    architecture: str = "standard",
):
    """An sae_lens SAE exact on span(basis[:SPAN]), with EXTRA rows in span(basis[SPAN:2·SPAN])."""
    from sae_lens import JumpReLUSAE, JumpReLUSAEConfig, StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    basis = orthonormal(d_in, seed)
    span, other = basis[:SPAN], basis[SPAN : SPAN + EXTRA]
    g = torch.Generator().manual_seed(seed + 1)
    extra = torch.randn(EXTRA, EXTRA, generator=g) @ other
    W_dec = torch.cat([span, -span, extra / extra.norm(dim=1, keepdim=True)])
    meta = SAEMetadata(hook_name=hook_name, model_name=model_name)
    kwargs = {"d_in": d_in, "d_sae": W_dec.shape[0], "metadata": meta}
    if architecture == "jumprelu":
        sae = JumpReLUSAE(JumpReLUSAEConfig(**kwargs))
    else:
        sae = StandardSAE(StandardSAEConfig(**kwargs))
    with torch.no_grad():
        sae.W_dec.copy_(W_dec)
        sae.W_enc.copy_(W_dec.T)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval(), basis


def random_sae(d_in: int = 64, d_sae: int = 256, seed: int = 0, hook_name: str = HOOK):
    """A standard sae_lens SAE with seeded random weights."""
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cfg = StandardSAEConfig(
            d_in=d_in, d_sae=d_sae, metadata=SAEMetadata(hook_name=hook_name, model_name=MODEL_ID)
        )
        sae = StandardSAE(cfg)
        with torch.no_grad():
            sae.b_enc.normal_(0, 0.1)
    return sae.eval()


def token_table(n_seqs: int = 24, length: int = 40, seed: int = 0) -> TokenTable:
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, 500, size=length).tolist() for _ in range(n_seqs)]
    return TokenTable.from_sequences([f"trace{i}" for i in range(n_seqs)], seqs)


EVENT_POSITIONS = (20, 33)
OFFSETS = (-12, -11, -10, -9, -8)


def event_labels(tokens: TokenTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(backtracking_start, thinking, window) arrays: events at EVENT_POSITIONS, thinking from
    position 2 on, window = rows at OFFSETS before each event."""
    pos = tokens.positions
    start = np.isin(pos, EVENT_POSITIONS).astype(np.uint8)
    thinking = (pos >= 2).astype(np.uint8)
    window = np.zeros(tokens.n_tokens, dtype=bool)
    for e in np.flatnonzero(start):
        window[e + np.array(OFFSETS)] = True
    return start, thinking, window


def planted_acts(
    tokens: TokenTable,
    basis: torch.Tensor,
    window: np.ndarray,
    *,
    boost: float = 4.0,
    seed: int = 0,
) -> np.ndarray:
    """Activations in span(basis[:SPAN]) (N(0,1) coordinates), plus ``boost``·basis[0] on window
    rows: feature 0 of :func:`span_sae` fires more before backtracking."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(tokens.n_tokens, SPAN)).astype(np.float32)
    z[window, 0] += boost
    return z @ basis[:SPAN].numpy()


def build_store(
    path: Path,
    tokens: TokenTable,
    acts_by_model: dict[str, np.ndarray],
    *,
    labels: bool = True,
    hook: str = HOOK,
) -> Path:
    """A float32 store with one hook per model and (optionally) the backtracking labels."""
    create_store(path, tokens, tokenizer_id="tok", config={"test": "sae_analysis"})
    for key, acts in acts_by_model.items():
        entry = ModelEntry(
            key=key,
            model_id=MODEL_ID if key == "base" else f"{MODEL_ID}-{key}",
            architecture="Synthetic",
            fingerprint="f0",
            d_model=acts.shape[1],
            n_layers=2,
            model_dtype="float32",
            tokenizer_id="tok",
            hooks=(HookEntry(name=hook, layer=1, meaning="test", hf_module="-"),),
            store_dtype="float32",
        )
        start = prepare_model(path, entry, mode="new")
        with ActivationWriter(path, key, start_row=start) as writer:
            for s in range(tokens.n_sequences):
                lo, hi = int(tokens.offsets[s]), int(tokens.offsets[s + 1])
                writer.submit(s, lo, {hook: torch.from_numpy(acts[lo:hi])})
    if labels:
        start_label, thinking, _ = event_labels(tokens)
        write_label(path, "backtracking_start", start_label)
        write_label(path, "thinking", thinking)
    return path
