"""Caching a model's activations at several hooks into a store, one forward pass per batch.

Sequences are batched in store order and right-padded: with causal attention no real token ever
attends to a pad after it, and rotary/learned positions start at 0 for each sequence, so the stored
rows equal a run on each sequence alone (tested). Pads are never stored. The forward pass stops
after the last block any requested hook needs. On CUDA the writer thread copies batch ``i`` to the
host and stores it while batch ``i + 1`` is computed; on a CPU it writes inline (see
:class:`~activation_store.writer.ActivationWriter`).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from activation_store import schema
from activation_store.cache_config import CacheConfig
from activation_store.core.errors import InputError, StoreError
from activation_store.create import (
    HookEntry,
    ModelEntry,
    check_same_tokens,
    create_store,
    prepare_model,
)
from activation_store.h5io import open_store_file
from activation_store.models.hooks import (
    HookSpec,
    hf_module_path,
    hook_meaning,
    parse_hook,
    stop_layer,
)
from activation_store.models.loader import LoadedModel
from activation_store.token_input import tokenizer_id
from activation_store.tokens import TokenTable
from activation_store.writer import ActivationWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheResult:
    path: Path
    model_key: str
    rows_written: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.rows_written / self.seconds if self.seconds > 0 else float("nan")


def default_model_key(model_id: str) -> str:
    key = Path(model_id.rstrip("/")).name or model_id
    return "".join(c if (c.isalnum() or c in "-_.") else "_" for c in key).lstrip(".") or "model"


def estimate_bytes(n_rows: int, d_model: int, n_hooks: int, store_dtype: str) -> int:
    return n_rows * d_model * n_hooks * (2 if store_dtype == "float16" else 4)


def free_bytes(path: Path) -> int:
    """Free bytes on the file system that holds ``path`` (its nearest existing ancestor)."""
    probe = path if path.exists() else path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def _check_free_space(out: Path, size: int) -> None:
    free = free_bytes(out)
    if size > free:
        raise StoreError(
            f"not enough disk space for {str(out)!r}: caching needs about {_size(size)}, "
            f"{_size(free)} free; free some space, choose another --out, or pass "
            "--ignore-disk-space to try anyway"
        )


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    raise AssertionError("unreachable")


def _committed_now(out: Path, key: str) -> int:
    """Rows of ``key`` already committed in ``out`` (0 when the store or the model is not there)."""
    if not out.exists():
        return 0
    with open_store_file(out, "r") as f:
        counter = f"{schema.COMMITTED}/{key}"
        return int(f[counter][()]) if counter in f else 0


def cache_activations(
    loaded: LoadedModel,
    tokens: TokenTable,
    out: str | Path,
    config: CacheConfig,
    *,
    progress: bool = True,
    check_disk_space: bool = True,
) -> CacheResult:
    """Cache ``config.hooks`` of ``loaded`` on ``tokens`` into the store at ``out``.

    A new store is created when ``out`` does not exist; otherwise its tokens must equal ``tokens``
    and the model is added next to the models already there. With ``check_disk_space``, a file
    system with less free space than the activations need is refused before anything is written.
    A disk that fills up midway raises a :class:`StoreError`: the rows committed so far stay intact,
    and ``--resume`` continues once space is freed.
    """
    out = Path(out)
    model = loaded.model
    specs = [parse_hook(h, model.cfg.n_layers) for h in config.hooks]
    key = config.name or default_model_key(loaded.model_id)
    _check_lengths(tokens, model.cfg.n_ctx)
    if check_disk_space:
        done = _committed_now(out, key) if config.resume else 0
        n_rows = tokens.n_tokens - done
        _check_free_space(
            out, estimate_bytes(n_rows, model.cfg.d_model, len(specs), config.store_dtype)
        )
    _ensure_store(out, tokens, loaded, config, key)
    entry = _model_entry(loaded, key, specs, config)
    start = prepare_model(out, entry, mode=config.mode)
    if start not in set(tokens.offsets.tolist()):
        raise StoreError(f"store {str(out)!r}: committed rows {start} do not end on a sequence")
    remaining = tokens.n_tokens - start
    size = estimate_bytes(remaining, entry.d_model, len(specs), config.store_dtype)
    log.info(
        "caching %s: %d hooks × %s tokens → about %.1f MB into %s%s",
        key,
        len(specs),
        f"{remaining:,}",
        size / 1e6,
        out,
        f" (resuming at row {start:,})" if start else "",
    )
    stop = stop_layer(specs, model.cfg.n_layers)
    t0 = time.perf_counter()
    bar = tqdm(
        total=remaining, unit="tok", unit_scale=True, desc=f"cache {key}", disable=not progress
    )
    background = config.writer_thread == "on" or (
        config.writer_thread == "auto" and loaded.device.type == "cuda"
    )
    try:
        with ActivationWriter(
            out,
            key,
            start_row=start,
            queue_size=config.queue_size,
            fsync=config.fsync,
            background=background,
        ) as writer:
            for index, (row_start, batch, lengths) in enumerate(
                _batches(tokens, start, config, pad_id=_pad_id(loaded))
            ):
                acts = _forward(model, batch.to(model.cfg.device), lengths, specs, stop)
                writer.submit(index, row_start, acts)
                bar.update(int(sum(lengths)))
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    return CacheResult(path=out, model_key=key, rows_written=remaining, seconds=seconds)


def _forward(
    model: torch.nn.Module,
    batch: torch.Tensor,
    lengths: list[int],
    specs: list[HookSpec],
    stop: int | None,
) -> dict[str, torch.Tensor]:
    """One forward pass; returns ``{hook: [sum(lengths), d_model]}`` without pad rows."""
    captured: dict[str, torch.Tensor] = {}
    mask = (
        torch.arange(batch.shape[1], device=batch.device)[None, :]
        < torch.tensor(lengths, device=batch.device)[:, None]
    )

    def grab(act: torch.Tensor, hook: object) -> None:
        captured[hook.name] = act[mask]  # type: ignore[attr-defined]

    with torch.inference_mode():
        model.run_with_hooks(  # type: ignore[operator]
            batch,
            fwd_hooks=[(s.name, grab) for s in specs],
            stop_at_layer=stop,
            return_type=None,
        )
    return captured


def _batches(
    tokens: TokenTable, start_row: int, config: CacheConfig, *, pad_id: int
) -> Iterator[tuple[int, torch.Tensor, list[int]]]:
    """Consecutive sequences from ``start_row`` on, packed up to ``batch_tokens`` padded tokens."""
    offsets = tokens.offsets.tolist()
    first = offsets.index(start_row)
    seqs: list[int] = []
    width = 0
    for s in range(first, tokens.n_sequences):
        n = offsets[s + 1] - offsets[s]
        if seqs and (
            max(width, n) * (len(seqs) + 1) > config.batch_tokens
            or len(seqs) >= config.max_batch_size
        ):
            yield _pack(tokens, seqs, pad_id)
            seqs, width = [], 0
        seqs.append(s)
        width = max(width, n)
    if seqs:
        yield _pack(tokens, seqs, pad_id)


def _pack(tokens: TokenTable, seqs: list[int], pad_id: int) -> tuple[int, torch.Tensor, list[int]]:
    lengths = [int(tokens.offsets[s + 1] - tokens.offsets[s]) for s in seqs]
    batch = torch.full((len(seqs), max(lengths)), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        batch[i, : lengths[i]] = torch.from_numpy(tokens.sequence(s).astype("int64"))
    return int(tokens.offsets[seqs[0]]), batch, lengths


def _pad_id(loaded: LoadedModel) -> int:
    tok = loaded.tokenizer
    for candidate in (tok.pad_token_id, tok.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def _check_lengths(tokens: TokenTable, n_ctx: int) -> None:
    lengths = tokens.offsets[1:] - tokens.offsets[:-1]
    if lengths.max() > n_ctx:
        s = int(lengths.argmax())
        raise InputError(
            f"sequence {tokens.trace_ids[s]!r} has {int(lengths[s])} tokens, more than the model's "
            f"context of {n_ctx}; truncate it or raise the model's n_ctx"
        )


def _ensure_store(
    out: Path, tokens: TokenTable, loaded: LoadedModel, config: CacheConfig, key: str
) -> None:
    creating = {"tokens_from": "cache", "first_model": loaded.model_id, **asdict(config)}
    if not out.exists():
        create_store(out, tokens, tokenizer_id=tokenizer_id(loaded.tokenizer), config=creating)
        return
    with open_store_file(out, "r") as f:
        try:
            check_same_tokens(f, tokens, out)
            return
        except StoreError:
            others = [m for m in f["activations"] if m != key]
            if not config.overwrite or others:
                raise
    log.warning("--overwrite: rebuilding %s, which held other tokens and no other model", out)
    out.unlink()
    create_store(out, tokens, tokenizer_id=tokenizer_id(loaded.tokenizer), config=creating)


def _model_entry(
    loaded: LoadedModel, key: str, specs: list[HookSpec], config: CacheConfig
) -> ModelEntry:
    cfg = loaded.model.cfg
    return ModelEntry(
        key=key,
        model_id=loaded.model_id,
        architecture=loaded.architecture,
        fingerprint=loaded.fingerprint,
        d_model=int(cfg.d_model),
        n_layers=int(cfg.n_layers),
        model_dtype=str(cfg.dtype).removeprefix("torch."),
        tokenizer_id=tokenizer_id(loaded.tokenizer),
        hooks=tuple(
            HookEntry(
                name=s.name,
                layer=s.layer,
                meaning=hook_meaning(s),
                hf_module=hf_module_path(s, loaded.architecture),
            )
            for s in specs
        ),
        store_dtype=config.store_dtype,
        compression=config.compression,
        config_json=json.dumps(
            {"model": asdict(loaded.config), "cache": asdict(config)}, sort_keys=True, default=str
        ),
    )
