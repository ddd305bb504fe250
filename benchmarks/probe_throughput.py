"""Probe throughput: probes for all layers × 9 offsets, streamed from a 200k-token store of the
embedded default model, with peak RSS against the store's size; the batched torch backend and the
sklearn backend side by side on the same layers.

    python benchmarks/probe_throughput.py --json out/probes.json                 # smollm2-135m
    python benchmarks/probe_throughput.py --model tiny-llama --n-seq 40 --json x  # quick

The store (built once, then reused from --store) holds real text (standard-library docstrings)
with every block's residual stream. Its events come from a proxy keyword labeller (sentences that
open with But, However, Note, If, The, This, ...): the figures measure throughput and memory, not science.
Each measured run is a fresh subprocess, so its peak RSS is its own.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import corpus_token_sequences, machine, parser, peak_rss_mb, write_json

THREADS = 1
OPENERS = re.compile(r"[.:!?]\s+(But|However|Note|If|Otherwise|This|The|For|When|Return)\b")


def model_shape(model: str) -> tuple[int, int]:
    """(n_layers, d_model) of a spec, from its Hugging Face config (SmolLM2-135M: 30, 576)."""
    from activation_store.models import ModelConfig, load_model

    loaded = load_model(ModelConfig(model=model))
    return loaded.n_layers, loaded.d_model


def default_model() -> str:
    from activation_store.models import known_specs

    return "smollm2-135m" if "smollm2-135m" in known_specs() else "tiny-llama"


def build_store(path: Path, model: str, n_seq: int, seq_len: int) -> None:
    """Cache every block's resid_post of ``model`` on corpus text and write proxy labels."""
    from activation_store.cache_config import CacheConfig
    from activation_store.capture import cache_activations
    from activation_store.labels import write_label
    from activation_store.models import ModelConfig, load_model
    from activation_store.tokens import TokenTable

    loaded = load_model(ModelConfig(model=model))
    seqs = corpus_token_sequences(loaded.tokenizer, n_seq, seq_len)
    tokens = TokenTable.from_sequences([f"doc{i}" for i in range(n_seq)], seqs)
    hooks = tuple(f"blocks.{layer}.hook_resid_post" for layer in range(loaded.n_layers))
    cache_activations(loaded, tokens, path, CacheConfig(hooks=hooks, name="base"), progress=True)
    starts = proxy_labels(loaded.tokenizer, tokens)
    thinking = (tokens.positions >= 16).astype(np.uint8)
    write_label(path, "backtracking_start", starts, attrs={"labeller": "proxy keyword (benchmark)"})
    write_label(path, "thinking", thinking, attrs={"meaning": "all but the first 16 tokens"})


def build_synthetic_store(
    path: Path, n_seq: int, seq_len: int, n_layers: int, d_model: int
) -> None:
    """A store of the default model's shape (float16, every block) with Gaussian activations, a
    direction planted at offset -1 of each event (stronger in later layers), ~1 event per 100
    tokens. For when caching the real model here would take hours (a slow or shared CPU)."""
    import torch

    from activation_store.create import HookEntry, ModelEntry, create_store, prepare_model
    from activation_store.labels import write_label
    from activation_store.tokens import TokenTable
    from activation_store.writer import ActivationWriter

    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 49152, size=seq_len).tolist() for _ in range(n_seq)]
    tokens = TokenTable.from_sequences([f"doc{i}" for i in range(n_seq)], seqs)
    create_store(path, tokens, tokenizer_id="synthetic", config={"benchmark": "synthetic"})
    hooks = [f"blocks.{layer}.hook_resid_post" for layer in range(n_layers)]
    entry = ModelEntry(
        key="base",
        model_id="synthetic",
        architecture="Synthetic",
        fingerprint="synthetic",
        d_model=d_model,
        n_layers=n_layers,
        model_dtype="float32",
        tokenizer_id="synthetic",
        hooks=tuple(
            HookEntry(name=h, layer=i, meaning="synthetic", hf_module="-")
            for i, h in enumerate(hooks)
        ),
    )
    starts = (rng.random(tokens.n_tokens) < 0.01) & (tokens.positions >= 32)
    direction = rng.normal(size=d_model).astype(np.float32)
    direction /= np.linalg.norm(direction)
    start = prepare_model(path, entry, mode="new")
    with ActivationWriter(path, "base", start_row=start, background=False) as writer:
        for s in range(n_seq):
            lo, hi = int(tokens.offsets[s]), int(tokens.offsets[s + 1])
            before = np.flatnonzero(starts[lo:hi]) - 1
            acts = {}
            for layer, hook in enumerate(hooks):
                x = rng.standard_normal((hi - lo, d_model), dtype=np.float32)
                x[before] += (3.0 * layer / max(n_layers - 1, 1)) * direction
                acts[hook] = torch.from_numpy(x)
            writer.submit(s, lo, acts)
    write_label(path, "backtracking_start", starts, attrs={"labeller": "synthetic (benchmark)"})
    write_label(path, "thinking", (tokens.positions >= 16).astype(np.uint8))


def proxy_labels(tokenizer: Any, tokens: Any) -> np.ndarray:
    """1 at the first token of each sentence opening with one of the proxy words."""
    starts = np.zeros(tokens.n_tokens, dtype=np.uint8)
    for s in range(tokens.n_sequences):
        pieces = [tokenizer.decode([t]) for t in tokens.sequence(s).tolist()]
        ends = np.cumsum([len(p) for p in pieces])
        for m in OPENERS.finditer("".join(pieces)):
            i = int(np.searchsorted(ends, m.start(1), side="right"))
            starts[int(tokens.offsets[s]) + i] = 1
    return starts


def worker(store: str, backend: str, layers: str, offsets: str, n_boot: int) -> dict[str, Any]:
    import time

    import torch
    from threadpoolctl import threadpool_limits

    threads = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    torch.set_num_threads(threads)
    threadpool_limits(threads)

    from activation_store.events import parse_offsets
    from probes.config import ProbeConfig
    from probes.probe_run import run_probes

    cfg = ProbeConfig(
        layers=tuple(layers.split(",")),
        offsets=parse_offsets(offsets),
        backend=backend,  # type: ignore[arg-type]
        n_bootstrap=n_boot,
        token_baseline=False,
    )
    t0 = time.perf_counter()
    report = run_probes(store, cfg)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "n_probes": len(report.results),
        "rows_read": report.counts["n_rows_read"],
        "n_events": report.counts["n_events"],
        "passes": report.passes,
        "best_auroc": max(r.auroc for r in report.results),
    }


def measure(store: Path, backend: str, layers: str, offsets: str, n_boot: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", str(store), backend, layers, offsets, str(n_boot)]
    cmd.append(str(THREADS))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        store, backend, layers, offsets, n_boot = sys.argv[2:7]
        print(json.dumps(worker(store, backend, layers, offsets, int(n_boot))))
        return
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="default: smollm2-135m if installed")
    p.add_argument("--store", type=Path, default=Path("/tmp/backtrack_probe_bench.h5"))
    p.add_argument("--n-seq", type=int, default=200)
    p.add_argument("--seq-len", type=int, default=1000)
    p.add_argument("--offsets", default="-8:0", help="9 offsets by default")
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--compare-layers", default="0,10,20", help="layers for torch vs sklearn")
    p.add_argument("--threads", type=int, default=1, help="torch and BLAS threads per run")
    p.add_argument(
        "--synthetic",
        action="store_true",
        help="Gaussian activations of the model's shape instead of caching it (slow CPUs)",
    )
    args = p.parse_args()
    global THREADS
    THREADS = args.threads
    model = args.model or default_model()
    if not args.store.exists():
        kind = "synthetic " if args.synthetic else ""
        print(
            f"building {args.n_seq * args.seq_len:,}-token {kind}store of {model} at {args.store} …"
        )
        if args.synthetic:
            n_layers, d_model = model_shape(model)
            build_synthetic_store(args.store, args.n_seq, args.seq_len, n_layers, d_model)
        else:
            build_store(args.store, model, args.n_seq, args.seq_len)
    store_mb = args.store.stat().st_blocks * 512 / 1e6
    full = measure(args.store, "sklearn", "all", args.offsets, args.n_bootstrap)
    sk = measure(args.store, "sklearn", args.compare_layers, args.offsets, args.n_bootstrap)
    th = measure(args.store, "torch", args.compare_layers, args.offsets, args.n_bootstrap)
    figures = {
        "model": model,
        "activations": "synthetic (model's shape)" if args.synthetic else "cached",
        "n_tokens": args.n_seq * args.seq_len,
        "store_mb": round(store_mb, 1),
        "seconds": round(full["seconds"], 2),
        "peak_rss_mb": round(full["peak_rss_mb"], 1),
        "n_probes": full["n_probes"],
        "rows_read": full["rows_read"],
        "n_events": full["n_events"],
        "passes": full["passes"],
        "rss_over_store": round(full["peak_rss_mb"] / store_mb, 3),
        "subset_layers": args.compare_layers,
        "subset_sklearn_seconds": round(sk["seconds"], 2),
        "subset_torch_seconds": round(th["seconds"], 2),
        "torch_over_sklearn_time": round(th["seconds"] / sk["seconds"], 3),
        "machine": machine(),
    }
    print(
        f"{full['n_probes']} probes ({model}, all layers × {args.offsets}) in {full['seconds']:.1f}s; "
        f"peak RSS {full['peak_rss_mb']:.0f} MB vs store {store_mb:.0f} MB "
        f"(ratio {figures['rss_over_store']}); {full['rows_read']:,} rows read in "
        f"{full['passes']} pass(es)"
    )
    print(
        f"layers {args.compare_layers}: sklearn {sk['seconds']:.1f}s, torch {th['seconds']:.1f}s "
        f"(torch/sklearn {figures['torch_over_sklearn_time']})"
    )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
