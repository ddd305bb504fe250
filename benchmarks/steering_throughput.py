"""Steered generation throughput: our steered batched generation vs unsteered batched Hugging Face
``generate`` (same model, prompts, batch size and lengths), and vs a per-prompt loop.

    python benchmarks/steering_throughput.py --json out/steering.json        # embedded default model
    python benchmarks/steering_throughput.py --model tiny-llama --n-prompts 8 --max-new-tokens 16

Measured side by side in one process, interleaved, best of ``--repeats``:

* ``hf``: unsteered ``hf_model.generate`` (left-padded batch, KV cache, greedy), every row forced to
  ``--max-new-tokens`` (``min_new_tokens``), so its length is fixed;
* ``hf_steered``: the same call with our interventions installed (``steer_hf``: a position tracker
  and one forward hook): ``steered_over_hf`` = its tok/s over ``hf``'s (same lengths exactly);
* ``engine_steered``: the toolkit's path, ``experiments.generation.generate`` under ``steer_hf``
  (stops rows at EOS; tok/s counts the tokens actually generated): ``engine_over_hf``;
* ``loop``: the same steered engine one prompt at a time: ``batched_over_loop``.

Then a demo-sized sweep (``--cells`` steering cells — unsteered and random directions at ±α — ×
``--prompts-per-cell`` prompts, sampled at ``--temperature``, ``--sweep-max-new-tokens``), the
same work on both engines, alternating, best of ``--sweep-repeats``:

* ``engine``: today's steering runs — one condition at a time, batch by batch, ``steer_hf`` around
  ``generate`` (a batch runs until its longest row ends);
* ``mixed``: the cells share continuous mixed batches (``steer_hf_rows`` + ``stream``: each row its
  own cell's intervention, finished rows leave, waiting rows join): ``mixed_over_engine`` is its
  generations per minute over ``engine``'s; ``identical`` is the share of generations whose tokens
  are the same on both;
* ``vllm`` (where vllm is installed, unless ``--no-vllm``): the same cells on the vLLM engine
  (``VLLMEngine``, a cell at a time, all its prompts in one call, our hook in vLLM's model;
  in-process, its CPU threads bound like ``--threads``): ``vllm_over_hf`` is its generations per
  minute over ``mixed``'s (our HF engine as the runs use it). Sampled tokens differ (vLLM's own
  sampler), so ``generated_tokens`` says how much each produced.

Targets: steered_over_hf ≥ 0.9, batched_over_loop ≥ 5, mixed_over_engine ≥ 1.5. On a shared CPU, keep ``--threads 1``: with
more threads than free cores every op waits for its slowest thread, and timings swing 3×.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser, write_json

from activation_store.direction import Direction
from activation_store.models import ModelConfig, known_specs, load_hf_model
from experiments.generation import GenerationConfig, generate, left_pad, stream
from experiments.generation.sampling import row_seeds
from experiments.prompts import load_prompts
from experiments.steering import add_interventions, steer_hf
from experiments.steering.interventions.rows import steer_hf_rows
from experiments.traces.prompting import prompt_ids


def default_model() -> str:
    return "smollm2-135m" if "smollm2-135m" in known_specs() else "tiny-llama"


def prompts_for(tokenizer: Any, n: int) -> list[list[int]]:
    problems = load_prompts("reasoning-v1", split="evaluation")[:n]
    chat = bool(getattr(tokenizer, "chat_template", None))
    return [prompt_ids(tokenizer, p.prompt, chat=chat, plain_template="{prompt}") for p in problems]


def direction_for(hf_model: Any, layer: int, seed: int = 0) -> Direction:
    d_model = int(hf_model.config.hidden_size)
    vector = torch.randn(d_model, generator=torch.Generator().manual_seed(seed))
    return Direction(
        name="bench",
        vector=vector,
        model="bench",
        hook=f"blocks.{layer}.hook_resid_post",
        kind="random",
    )


def hf_generate(hf_model: Any, tokenizer: Any, prompts: list[list[int]], n_new: int) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids, mask = left_pad(prompts, pad, next(hf_model.parameters()).device)
    with torch.no_grad():
        out = hf_model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=n_new,
            min_new_tokens=n_new,
            do_sample=False,
            pad_token_id=pad,
        )
    return int((out.shape[1] - ids.shape[1]) * out.shape[0])


def engine_generate(
    hf_model: Any, tokenizer: Any, prompts: list[list[int]], config: GenerationConfig
) -> int:
    outs = generate(hf_model, tokenizer, prompts, config, progress=False)
    return sum(len(o.generated_ids) for o in outs)


def rate(fn: Callable[[], int]) -> tuple[float, int, float, float]:
    """(count/s, count, seconds, CPU seconds of this process) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    dt = time.perf_counter() - t0
    return n / dt, n, dt, time.process_time() - c0


def interleaved(
    fns: dict[str, Callable[[], int]], repeats: int
) -> dict[str, list[tuple[float, int, float, float]]]:
    """Each function ``repeats`` times, round-robin, so machine noise hits all of them alike."""
    runs: dict[str, list[tuple[float, int, float, float]]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            runs[key].append(rate(fn))
    return runs


def workloads(hf_model: Any, tokenizer: Any, args: Any) -> dict[str, Callable[[], int]]:
    """The four measured calls; each returns the number of tokens it generated."""
    prompts = prompts_for(tokenizer, args.n_prompts)
    layer = int(hf_model.config.num_hidden_layers) // 2
    interventions = add_interventions([direction_for(hf_model, layer)], [args.alpha])
    config = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    single = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=1)
    batches = [prompts[i : i + args.batch_size] for i in range(0, len(prompts), args.batch_size)]

    def hf() -> int:
        return sum(hf_generate(hf_model, tokenizer, b, args.max_new_tokens) for b in batches)

    def hf_steered() -> int:
        with steer_hf(hf_model, interventions):
            return hf()

    def engine_steered() -> int:
        with steer_hf(hf_model, interventions):
            return engine_generate(hf_model, tokenizer, prompts, config)

    def loop() -> int:
        with steer_hf(hf_model, interventions):
            return sum(engine_generate(hf_model, tokenizer, [p], single) for p in prompts)

    return {"hf": hf, "hf_steered": hf_steered, "engine_steered": engine_steered, "loop": loop}


def sweep_cells(hf_model: Any, n_cells: int, alpha: float) -> list[list[Any]]:
    """Unsteered, then random directions at +α, −α (α × unit vector), at the middle layer."""
    layer = int(hf_model.config.num_hidden_layers) // 2
    cells: list[list[Any]] = [[]]
    for j in range(n_cells - 1):
        sign = 1.0 if j % 2 == 0 else -1.0
        cells.append(
            add_interventions([direction_for(hf_model, layer, seed=j // 2)], [sign * alpha])
        )
    return cells


def sweep_workloads(
    hf_model: Any, tokenizer: Any, args: Any
) -> tuple[dict[str, Callable[[], int]], dict[str, list[list[int]]]]:
    """Today's per-condition batches vs mixed batches on the same sweep; each returns generations."""
    prompts = sorted(prompts_for(tokenizer, args.prompts_per_cell), key=lambda p: -len(p))
    cells = sweep_cells(hf_model, args.cells, args.sweep_alpha)
    config = GenerationConfig(
        max_new_tokens=args.sweep_max_new_tokens,
        temperature=args.temperature,
        batch_size=args.batch_size,
        seed=0,
    )
    tokens: dict[str, list[list[int]]] = {}

    def engine() -> int:
        out = []
        for cell in cells:  # as the runner did: a condition at a time, batch by batch
            for start in range(0, len(prompts), args.batch_size):
                batch = prompts[start : start + args.batch_size]
                with steer_hf(hf_model, cell):
                    out += generate(hf_model, tokenizer, batch, config, progress=False)
        tokens["engine"] = [o.generated_ids for o in out]
        return len(out)

    def mixed() -> int:
        requests = [(c, p) for c in range(len(cells)) for p in prompts]
        seeds = [row_seeds(0, [p])[0] for _, p in requests]
        got: dict[int, list[int]] = {}
        with steer_hf_rows(hf_model, cells, n_rows=len(requests)) as handle:
            for finished in stream(
                hf_model,
                tokenizer,
                [p for _, p in requests],
                config,
                seeds=seeds,
                on_forward=lambda rows, lens, shared: handle.assign(
                    rows, [requests[r][0] for r in rows], lens, shared
                ),
                groups=[c for c, _ in requests],
                share_prefix=args.share_prefix,
            ):
                got.update((r, o.generated_ids) for r, o in finished)
        tokens["mixed"] = [got[r] for r in range(len(requests))]
        return len(got)

    fns = {"engine": engine, "mixed": mixed}
    if args.vllm:
        from experiments.generation.vllm_engine import VLLMEngine

        llm = VLLMEngine.open(
            args.model,
            dtype=args.dtype,
            max_model_len=max(len(p) for p in prompts) + args.sweep_max_new_tokens + 8,
        )
        torch.set_num_threads(args.threads)  # vLLM's worker may have changed it
        seeds = [row_seeds(0, [p])[0] for p in prompts]

        def vllm() -> int:
            out = []
            for cell in cells:
                with llm.steer(cell):
                    out += llm.generate(prompts, config, seeds=seeds)
            tokens["vllm"] = [o.generated_ids for o in out]
            return len(out)

        fns["vllm"] = vllm
    return fns, tokens


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=default_model())
    p.add_argument("--n-prompts", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--alpha", type=float, default=4.0, help="α × unit vector, at the middle layer")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: stable ratios on a shared machine; raise it on a quiet one)",
    )
    p.add_argument("--cells", type=int, default=5, help="sweep cells (unsteered + random ±α)")
    p.add_argument("--prompts-per-cell", type=int, default=24)
    p.add_argument("--sweep-max-new-tokens", type=int, default=96)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--sweep-alpha", type=float, default=26.0, help="≈ 0.2 × mean resid norm")
    p.add_argument("--sweep-repeats", type=int, default=2)
    p.add_argument("--no-vllm", dest="vllm", action="store_false", help="skip the vLLM engine")
    p.add_argument(
        "--no-share-prefix",
        dest="share_prefix",
        action="store_false",
        help="mixed: prefill every prompt whole (no shared prompt prefix per cell)",
    )
    p.add_argument("--only", choices=("all", "sweep"), default="all", help="sweep: skip the rest")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.vllm:
        from experiments.generation.vllm_engine import vllm_available

        args.vllm = vllm_available()
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in this process
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        if args.device == "cpu":
            os.environ.setdefault(
                "VLLM_CPU_OMP_THREADS_BIND", ",".join(str(i) for i in range(args.threads))
            )

    config = ModelConfig(model=args.model, device=args.device, dtype=args.dtype)
    hf_model, tokenizer = load_hf_model(config)
    figures: dict[str, Any] = {
        **{k: getattr(args, k) for k in ("model", "device", "dtype", "n_prompts", "batch_size")},
        **{k: getattr(args, k) for k in ("max_new_tokens", "alpha", "repeats", "threads")},
        "steer_layer": int(hf_model.config.num_hidden_layers) // 2,
        "machine": machine(),
    }
    if args.only == "all":
        runs = workloads(hf_model, tokenizer, args)
        loop = runs.pop("loop")
        runs["hf_steered"]()  # warm-up (allocator, lazy imports)
        best = {k: max(v) for k, v in interleaved(runs, args.repeats).items()}
        best["loop"] = rate(loop)
        figures.update(
            {
                "tok_s": {k: round(v[0], 2) for k, v in best.items()},
                "tokens": {k: v[1] for k, v in best.items()},
                "seconds": {k: round(v[2], 3) for k, v in best.items()},
                "steered_over_hf": best["hf_steered"][0] / best["hf"][0],
                "engine_over_hf": best["engine_steered"][0] / best["hf"][0],
                "batched_over_loop": best["engine_steered"][0] / best["loop"][0],
            }
        )
        for key in ("hf", "hf_steered", "engine_steered", "loop"):
            print(
                f"{key:>15}: {figures['tok_s'][key]:8.1f} tok/s  ({figures['tokens'][key]} tokens)"
            )
        for key in ("steered_over_hf", "engine_over_hf", "batched_over_loop"):
            print(f"{key:>18}: {figures[key]:.2f}")
    fns, tokens = sweep_workloads(hf_model, tokenizer, args)
    sweep = interleaved(fns, args.sweep_repeats)
    gen_min = {k: 60 * max(r[0] for r in v) for k, v in sweep.items()}
    same = sum(a == b for a, b in zip(tokens["engine"], tokens["mixed"], strict=True))
    if "vllm" in gen_min:
        figures["vllm_over_hf"] = gen_min["vllm"] / gen_min["mixed"]
        figures["vllm_over_hf_cpu_time"] = min(r[3] for r in sweep["mixed"]) / min(
            r[3] for r in sweep["vllm"]
        )
    figures["sweep"] = {
        **{k: getattr(args, k) for k in ("cells", "prompts_per_cell", "temperature")},
        "max_new_tokens": args.sweep_max_new_tokens,
        "alpha_unit_vector": args.sweep_alpha,
        "repeats": args.sweep_repeats,
        "share_prefix": args.share_prefix,
        "generations": sweep["engine"][0][1],
        "generated_tokens": {k: sum(len(t) for t in v) for k, v in tokens.items()},
        "generations_per_min": {k: round(v, 2) for k, v in gen_min.items()},
        "seconds": {k: [round(r[2], 2) for r in v] for k, v in sweep.items()},
        "cpu_seconds": {k: [round(r[3], 2) for r in v] for k, v in sweep.items()},
        "identical": same / len(tokens["engine"]),
    }
    figures["mixed_over_engine"] = gen_min["mixed"] / gen_min["engine"]
    # CPU time of this process for the same work: less swayed by other jobs on a shared machine
    cpu = {k: min(r[3] for r in v) for k, v in sweep.items()}
    figures["mixed_over_engine_cpu_time"] = cpu["engine"] / cpu["mixed"]
    for key, value in gen_min.items():
        print(f"{key:>15}: {value:8.1f} generations/min")
    print(f"{'mixed_over_engine':>18}: {figures['mixed_over_engine']:.2f}")
    print(f"{'  (CPU time)':>18}: {figures['mixed_over_engine_cpu_time']:.2f}")
    print(f"{'identical':>18}: {figures['sweep']['identical']:.3f}")
    if "vllm_over_hf" in figures:
        print(f"{'vllm_over_hf':>18}: {figures['vllm_over_hf']:.2f}")
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
