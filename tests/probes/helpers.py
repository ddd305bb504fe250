"""Synthetic labelled stores with planted directions, for exact and recovery tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from activation_store.create import HookEntry, ModelEntry, create_store, prepare_model
from activation_store.labels import write_label
from activation_store.tokens import TokenTable
from activation_store.writer import ActivationWriter

HOOKS = ("blocks.0.hook_resid_post", "blocks.1.hook_resid_post")
WINDOW = (-12, -11, -10, -9, -8)


@dataclass(frozen=True)
class Planted:
    path: Path
    window_dir: np.ndarray
    """Unit vector added at offsets -12..-8 of every event (both hooks)."""
    probe_dir: np.ndarray
    """Unit vector added at offset -1 of every event (hook blocks.1 only)."""
    starts: np.ndarray
    thinking: np.ndarray
    acts: dict[str, np.ndarray]


def planted_store(
    path: Path,
    *,
    n_seq: int = 60,
    seq_len: int = 150,
    d_model: int = 64,
    prompt_len: int = 8,
    events_per_seq: int = 4,
    amplitude: float = 4.0,
    early_events: int = 5,
    models: tuple[str, ...] = ("base",),
    seed: int = 0,
) -> Planted:
    """Gaussian activations plus ``amplitude`` × window_dir at offsets -12..-8 of each event and
    ``amplitude`` × probe_dir at offset -1 (hook 1). ``early_events`` sequences also get an event
    3 tokens into the thinking span, whose -12..-8 window must be skipped."""
    rng = np.random.default_rng(seed)
    tokens = TokenTable.from_sequences(
        [f"prompt{i // 2}/t{i}" for i in range(n_seq)],
        [rng.integers(5, 500, size=seq_len).tolist() for _ in range(n_seq)],
    )
    n = tokens.n_tokens
    starts = np.zeros(n, dtype=np.uint8)
    thinking = (tokens.positions >= prompt_len).astype(np.uint8)
    for s in range(n_seq):
        pos = prompt_len + 14 + np.arange(events_per_seq) * 30 + rng.integers(0, 10, events_per_seq)
        starts[tokens.offsets[s] + pos[pos < seq_len]] = 1
        if s < early_events:
            starts[tokens.offsets[s] + prompt_len + 3] = 1
    window_dir, probe_dir = (v / np.linalg.norm(v) for v in rng.normal(size=(2, d_model)))
    ev = np.flatnonzero(starts)
    acts = {}
    for h, hook in enumerate(HOOKS):
        x = rng.normal(size=(n, d_model)).astype(np.float64)
        for o in WINDOW:
            r = ev + o
            ok = (r >= 0) & (tokens.seq_index[np.clip(r, 0, n - 1)] == tokens.seq_index[ev])
            x[r[ok]] += amplitude * window_dir
        if h == 1:
            x[ev - 1] += amplitude * probe_dir
        acts[hook] = x.astype(np.float32)
    create_store(path, tokens, tokenizer_id="tiny", config={"test": "planted"})
    for key in models:
        write_model(path, key, acts, tokens)
    write_label(path, "backtracking_start", starts, attrs={"labeller": "planted"})
    write_label(path, "thinking", thinking)
    return Planted(path, window_dir, probe_dir, starts, thinking, acts)


def write_model(path: Path, key: str, acts: dict[str, np.ndarray], tokens: TokenTable) -> None:
    d_model = next(iter(acts.values())).shape[1]
    entry = ModelEntry(
        key=key,
        model_id="tiny-llama",
        architecture="LlamaForCausalLM",
        fingerprint="planted",
        d_model=d_model,
        n_layers=2,
        model_dtype="float32",
        tokenizer_id="tiny",
        hooks=tuple(
            HookEntry(name=h, layer=i, meaning="test", hf_module="-") for i, h in enumerate(acts)
        ),
        store_dtype="float32",
    )
    start = prepare_model(path, entry, mode="new")
    with ActivationWriter(path, key, start_row=start, background=False) as writer:
        writer.submit(0, 0, {h: torch.from_numpy(a) for h, a in acts.items()})


NEWLINE, CHECK, STEP = 203, 225, 411
"""Token ids of the tiny tokenizer: "\\n", " " (opens a Check line here) and " So" (a step line)."""


@dataclass(frozen=True)
class Template:
    path: Path
    concept_dir: np.ndarray


def template_store(
    path: Path,
    *,
    concept: float,
    n_seq: int = 80,
    lines: int = 12,
    line_len: int = 8,
    amplitude: float = 4.0,
    seed: int = 0,
) -> Template:
    """Traces made of lines of ``line_len`` tokens, opened by a step or a Check token and ended by
    a newline. Half the Check lines are followed by a backtracking line (its first token is the
    event). The activations encode only the layout — which token opened the line and how far into
    it a token sits — so position in the template alone separates the positives from uniform
    negatives. With ``concept`` > 0, Check lines that *are* followed by backtracking also carry
    ``concept`` × a unit direction on their last three tokens (a real precursor)."""
    rng = np.random.default_rng(seed)
    d_model = 48
    slot_dirs = rng.normal(size=(2, line_len, d_model))
    concept_dir = rng.normal(size=d_model)
    concept_dir /= np.linalg.norm(concept_dir)
    seqs, starts, layout_vecs, concept_rows = [], [], [], []
    for _ in range(n_seq):
        ids: list[int] = []
        for _line in range(lines):
            check = rng.random() < 0.4
            body = rng.integers(40, 180, size=line_len - 2).tolist()
            line = [CHECK if check else STEP, *body, NEWLINE]
            base = len(ids)
            ids += line
            for j in range(line_len):
                layout_vecs.append(slot_dirs[int(check), j])
            if check and rng.random() < 0.5:
                starts.append((len(seqs), len(ids)))  # the next line's first token
                concept_rows.append((len(seqs), base + line_len - 3, base + line_len))
        seqs.append(ids)
    tokens = TokenTable.from_sequences([f"t{i}" for i in range(n_seq)], seqs)
    n = tokens.n_tokens
    start_label = np.zeros(n, dtype=np.uint8)
    for s, pos in starts:
        if pos < len(seqs[s]):
            start_label[tokens.offsets[s] + pos] = 1
    x = rng.normal(size=(n, d_model)) + amplitude * np.asarray(layout_vecs)
    for s, lo, hi in concept_rows:
        x[tokens.offsets[s] + lo : tokens.offsets[s] + hi] += concept * concept_dir
    acts = {h: x.astype(np.float32) for h in HOOKS}
    create_store(path, tokens, tokenizer_id="tiny", config={"test": "template"})
    write_model(path, "base", acts, tokens)
    write_label(path, "backtracking_start", start_label, attrs={"labeller": "template"})
    write_label(path, "thinking", np.ones(n, dtype=np.uint8))
    return Template(path, concept_dir)
