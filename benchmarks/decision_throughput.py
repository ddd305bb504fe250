"""Decision-point reading throughput: steered cells with the shared prefix vs full forwards.

    python benchmarks/decision_throughput.py --json out/decisions.json      # the organism reasoner
    python benchmarks/decision_throughput.py --model tiny-llama --n-traces 4 --cells 3

The decision-point metric reads every cell (direction × α) on the same held-out traces, one
teacher-forced forward per batch. With a shared prefix (``DecisionConfig.prefix_cache_mb``, the
default) the blocks below the steered one run once per batch, in the unsteered pass, and each
steered cell replays their output. Measured side by side in one process, interleaved, best of
``--repeats``: ``--cells`` random directions at ``blocks.L.hook_resid_post`` read over the same
traces (greedy reasoner traces on the evaluation split, generated once here), ``full`` (every cell
a whole forward) against ``shared`` (the unsteered pass records, the cells replay).
``shared_over_full`` is the cells per second of the one over the other; ``identical`` says whether
the two gave the same numbers (they should, exactly).

Expected: about ``n_layers / (n_layers − L)`` for the steered forwards, less the embedding and
unembedding of the decision points that both do (SmolLM2, L = 10 of 30: ≤ 1.5).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser, write_json

from activation_store.direction import Direction
from activation_store.models import ModelConfig, known_specs, load_hf_model
from experiments.generation import GenerationConfig
from experiments.prompts import load_prompts
from experiments.steering import add_interventions
from experiments.steering.interventions.prefix import SharedPrefix
from experiments.steering.runs.decision_points import decision_points, opener_ids, read_points
from experiments.steering.runs.decisions import DEFAULT_OPENERS
from experiments.traces.config import TraceConfig
from experiments.traces.record import read_traces
from experiments.traces.run import generate_traces


def default_model() -> str:
    return "smollm2-135m-reasoner" if "smollm2-135m-reasoner" in known_specs() else "tiny-llama"


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=default_model())
    p.add_argument("--n-traces", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--cells", type=int, default=12, help="random directions read (one α each)")
    p.add_argument("--layer", type=int, default=None, help="steered block (default: a third)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    hf_model, tokenizer = load_hf_model(
        ModelConfig(model=args.model, device=args.device, dtype=args.dtype)
    )
    n_layers = int(hf_model.config.num_hidden_layers)
    layer = n_layers // 3 if args.layer is None else args.layer
    problems = [p for p in load_prompts("reasoning-v1") if p.split == "evaluation"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "traces.jsonl"
        generate_traces(
            hf_model, tokenizer, args.model, problems, out,
            GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size),
            TraceConfig(split="evaluation", limit=args.n_traces),
            progress=False,
        )  # fmt: skip
        traces = read_traces(out)
    by_id = {p.id: p for p in problems}
    points = [decision_points(t, by_id.get(t.prompt_id)) for t in traces]
    points = [dp for dp in points if dp.token_index]
    openers = opener_ids(tokenizer, DEFAULT_OPENERS)
    d_model = int(hf_model.config.hidden_size)
    hook = f"blocks.{layer}.hook_resid_post"
    cells = [
        add_interventions(
            [Direction(name=f"r{i}", model="m", hook=hook, kind="random",
                       vector=torch.randn(d_model, generator=torch.Generator().manual_seed(i)))],
            [8.0],
            unit="unit",
        )
        for i in range(args.cells)
    ]  # fmt: skip

    def full() -> list[Any]:
        read_points(hf_model, points, openers, [], batch_size=args.batch_size)
        return [
            read_points(hf_model, points, openers, c, batch_size=args.batch_size) for c in cells
        ]

    def shared() -> list[Any]:
        share = SharedPrefix(hf_model, block=layer, max_bytes=2**32)
        read_points(hf_model, points, openers, [], batch_size=args.batch_size, share=share)
        return [
            read_points(hf_model, points, openers, c, batch_size=args.batch_size, share=share)
            for c in cells
        ]

    shared()  # warm-up
    seconds: dict[str, list[float]] = {"full": [], "shared": []}
    results: dict[str, Any] = {}
    for _ in range(args.repeats):
        for key, fn in (("full", full), ("shared", shared)):
            t0 = time.perf_counter()
            results[key] = fn()
            seconds[key].append(time.perf_counter() - t0)
    identical = all(
        a == b and torch.equal(la, lb)
        for ca, cb in zip(results["full"], results["shared"], strict=True)
        for (a, la), (b, lb) in zip(ca, cb, strict=True)
    )
    best = {k: min(v) for k, v in seconds.items()}
    figures = {
        **{k: getattr(args, k) for k in ("model", "device", "dtype", "n_traces", "cells")},
        **{k: getattr(args, k) for k in ("batch_size", "repeats", "threads", "max_new_tokens")},
        "layer": layer,
        "n_layers": n_layers,
        "n_traces_read": len(points),
        "n_points": sum(len(dp.token_index) for dp in points),
        "tokens_per_pass": sum(max(dp.token_index) for dp in points),
        "seconds": {k: [round(s, 2) for s in v] for k, v in seconds.items()},
        "cells_per_s": {k: round(args.cells / v, 3) for k, v in best.items()},
        "shared_over_full": best["full"] / best["shared"],
        "identical": identical,
        "machine": machine(),
    }
    for key, value in figures["cells_per_s"].items():
        print(f"{key:>8}: {value:.3f} cells/s (+ the unsteered pass)")
    print(f"shared_over_full: {figures['shared_over_full']:.2f}   identical: {identical}")
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
