"""Synthetic stores for tests: deterministic activations that depend only on the row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from activation_store.create import HookEntry, ModelEntry, create_store, prepare_model
from activation_store.tokens import TokenTable
from activation_store.writer import ActivationWriter

HOOKS = ("blocks.0.hook_resid_post", "blocks.1.hook_resid_post")


def token_table(lengths: list[int], seed: int = 0) -> TokenTable:
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, 100, size=n).tolist() for n in lengths]
    return TokenTable.from_sequences([f"t{i}" for i in range(len(lengths))], seqs)


def synthetic_acts(rows: np.ndarray, d_model: int, hook_index: int) -> np.ndarray:
    """Activation of row r: a smooth function of (r, hook) that float16 represents well enough."""
    r = np.asarray(rows, dtype=np.float64)[:, None]
    j = np.arange(d_model)[None, :]
    return (np.sin(0.01 * r * (j + 1) + hook_index) * 4).astype(np.float32)


def model_entry(d_model: int = 8, key: str = "m", store_dtype: str = "float16", **kw) -> ModelEntry:
    return ModelEntry(
        key=key,
        model_id="synthetic",
        architecture="Synthetic",
        fingerprint=kw.pop("fingerprint", "f0"),
        d_model=d_model,
        n_layers=2,
        model_dtype="float32",
        tokenizer_id="tok",
        hooks=tuple(
            HookEntry(name=h, layer=i, meaning="test", hf_module="-") for i, h in enumerate(HOOKS)
        ),
        store_dtype=store_dtype,  # type: ignore[arg-type]
        **kw,
    )


def build_store(path: Path, tokens: TokenTable, *, d_model: int = 8, **entry_kw) -> Path:
    create_store(path, tokens, tokenizer_id="tok", config={"test": True})
    entry = model_entry(d_model, **entry_kw)
    start = prepare_model(path, entry, mode="new")
    with ActivationWriter(path, entry.key, start_row=start) as writer:
        for i, s in enumerate(range(tokens.n_sequences)):
            lo, hi = int(tokens.offsets[s]), int(tokens.offsets[s + 1])
            rows = np.arange(lo, hi)
            acts = {
                h: torch.from_numpy(synthetic_acts(rows, d_model, k)) for k, h in enumerate(HOOKS)
            }
            writer.submit(i, lo, acts)
    return path
