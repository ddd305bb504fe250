"""Trace generation throughput: our batched engine vs a one-prompt loop and vs batched HF ``generate``.

    python benchmarks/trace_throughput.py --json out/traces.json          # embedded default model
    python benchmarks/trace_throughput.py --model tiny-llama --n-prompts 16 --max-new-tokens 16

Measured side by side in one process, interleaved, best of ``--repeats``, greedy, on the same
chat-templated prompts of ``reasoning-v1``:

* ``ours``: ``experiments.generation.generate`` (length-sorted left-padded batches, KV cache);
* ``hf``: ``hf_model.generate`` on left-padded batches of the same size, in prompt order, with the
  same EOS ids — the outputs are checked to be identical, so both did the same work;
* ``loop``: our engine one prompt at a time (``batch_size=1``);
* ``traces``: ``generate_traces`` (engine + char offsets + crash-safe JSONL appends).

Figures: ``batched_over_loop`` = t_loop / t_ours (target ≥ 5), ``ours_over_hf`` = t_hf / t_ours
(target ≥ 0.9), ``traces_over_ours`` = t_ours / t_traces (the cost of writing traces).
"""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser, timed, write_json

from activation_store.models import ModelConfig, known_specs, load_hf_model
from experiments.generation import GenerationConfig, generate, left_pad
from experiments.generation.stopping import stop_rule
from experiments.prompts import load_prompts
from experiments.traces import generate_traces
from experiments.traces.prompting import prompt_ids


def default_model() -> str:
    return "smollm2-135m" if "smollm2-135m" in known_specs() else "tiny-llama"


def hf_batched(
    model: Any, tok: Any, prompts: list[list[int]], cfg: GenerationConfig
) -> list[list[int]]:
    """Plain HF generate, batch by batch in prompt order; generated ids cut at the first stop id."""
    from transformers import GenerationConfig as HFConfig

    rule = stop_rule(tok, model, stop_at_think_end=cfg.stop_at_think_end)
    pad = tok.pad_token_id if tok.pad_token_id is not None else rule.eos_ids[0]
    hf_cfg = HFConfig(
        max_new_tokens=cfg.max_new_tokens, do_sample=False, pad_token_id=pad,
        eos_token_id=sorted(rule.token_reasons),
    )  # fmt: skip
    outs: list[list[int]] = []
    for start in range(0, len(prompts), cfg.batch_size):
        batch = prompts[start : start + cfg.batch_size]
        ids, mask = left_pad(batch, pad, model.device)
        with torch.no_grad():
            seq = model.generate(input_ids=ids, attention_mask=mask, generation_config=hf_cfg)
        for row in seq[:, ids.shape[1] :].tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in rule.token_reasons), len(row))
            outs.append(row[:cut])
    return outs


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=default_model())
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--n-prompts", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's own)"
    )
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tok = load_hf_model(ModelConfig(model=args.model, device=args.device, dtype=args.dtype))
    problems = load_prompts("reasoning-v1", split="derivation")[:: max(1, 300 // args.n_prompts)][
        : args.n_prompts
    ]
    chat = bool(getattr(tok, "chat_template", None))
    prompts = [prompt_ids(tok, q.prompt, chat=chat, plain_template="{prompt}") for q in problems]
    cfg = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    one = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=1)

    ours_out = [o.generated_ids for o in generate(model, tok, prompts, cfg, progress=False)]
    hf_out = hf_batched(model, tok, prompts, cfg)  # also warms up
    same = sum(a == b for a, b in zip(ours_out, hf_out, strict=True))
    n_tokens = sum(len(o) for o in ours_out)
    times: dict[str, list[float]] = {"ours": [], "hf": [], "loop": [], "traces": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            times["ours"].append(timed(lambda: generate(model, tok, prompts, cfg, progress=False)))
            times["hf"].append(timed(lambda: hf_batched(model, tok, prompts, cfg)))
            times["loop"].append(timed(lambda: generate(model, tok, prompts, one, progress=False)))
            out = Path(tmp) / f"traces{r}.jsonl"
            times["traces"].append(
                timed(
                    partial(
                        generate_traces, model, tok, args.model, problems, out, cfg, progress=False
                    )
                )
            )
    best = {k: min(v) for k, v in times.items()}
    figures = {
        "model": args.model,
        "n_prompts": len(prompts),
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "generated_tokens": n_tokens,
        "identical_outputs_ours_vs_hf": f"{same}/{len(prompts)}",
        "seconds": best,
        "tok_per_s": {k: n_tokens / v for k, v in best.items()},
        "batched_over_loop": best["loop"] / best["ours"],
        "ours_over_hf": best["hf"] / best["ours"],
        "traces_over_ours": best["ours"] / best["traces"],
        "machine": machine(),
    }
    print(
        f"{args.model}: {len(prompts)} prompts × ≤{args.max_new_tokens} new tokens, batch {args.batch_size}"
    )
    for key in ("ours", "hf", "loop", "traces"):
        print(f"  {key:7s} {best[key]:7.2f} s  {n_tokens / best[key]:8.1f} tok/s")
    print(f"  identical greedy outputs ours vs hf: {same}/{len(prompts)}")
    print(f"  batched_over_loop {figures['batched_over_loop']:.2f} (target ≥ 5)")
    print(f"  ours_over_hf      {figures['ours_over_hf']:.2f} (target ≥ 0.9)")
    print(f"  traces_over_ours  {figures['traces_over_ours']:.2f}")
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
