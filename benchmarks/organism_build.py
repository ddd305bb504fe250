"""The embedded organism's costs, side by side in one run (SmolLM2-135M on this machine):

1. loading ``smollm2-135m``: dequantizing the Q4_1 GGUF (the first load) vs the on-disk cache;
2. one LoRA SFT step (batch 8 of organism traces, forward + backward): cross-entropy over every
   position's logits vs only the assistant positions (``experiments.organism.finetune.assistant_loss``);
3. the same step with 1 vs 2 torch threads (on a shared machine, 2 OpenMP threads can be far slower).

    python benchmarks/organism_build.py --json out/organism_build.json
    python benchmarks/organism_build.py --model tiny-llama --device cuda --dtype bfloat16  # no GGUF

With another ``--model`` (a spec or a local Hugging Face directory) the GGUF load (1) is left out;
on a GPU the thread comparison (3) is left out.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser, write_json

if TYPE_CHECKING:
    from activation_store.models.config import Dtype

BASE = "smollm2-135m"


def _median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def load_times() -> dict[str, float]:
    from activation_store.models import ModelConfig
    from activation_store.models.smollm2 import _dequantize_gguf, load_smollm2_hf

    load_smollm2_hf(ModelConfig(model="smollm2-135m"))  # make sure the cache exists
    cached = _median_time(lambda: load_smollm2_hf(ModelConfig(model="smollm2-135m")), 3)
    cold = _median_time(_dequantize_gguf, 1)
    return {"load_gguf_s": cold, "load_cached_s": cached, "load_speedup": cold / cached}


def step_times(repeats: int, model_spec: str, device: str, dtype: Dtype) -> dict[str, float]:
    from activation_store.models import ModelConfig, load_hf_model
    from experiments.organism import finetune as ft
    from experiments.organism.chat import encode_trace, reasoner_tokenizer
    from experiments.organism.config import FinetuneConfig
    from experiments.organism.families import make_problems
    from experiments.organism.traces import TraceConfig, make_traces

    config = ModelConfig(model=model_spec, device=device, dtype=dtype)
    base, tokenizer = load_hf_model(config)
    tokenizer = reasoner_tokenizer(tokenizer)
    traces = make_traces(make_problems(8, seed=0), TraceConfig(n_traces=8))
    batch = ft.collate([encode_trace(tokenizer, t) for t in traces], int(tokenizer.pad_token_id))
    on = next(base.parameters()).device
    batch = {k: v.to(on) for k, v in batch.items()}
    model = ft.lora_model(base, FinetuneConfig())

    def step(loss_fn: Any) -> None:
        loss_fn().backward()
        model.zero_grad(set_to_none=True)
        if on.type == "cuda":
            torch.cuda.synchronize(on)

    full = lambda: step(lambda: model(**batch).loss)  # noqa: E731
    assistant = lambda: step(lambda: ft.assistant_loss(model, batch))  # noqa: E731
    out: dict[str, float] = {"tokens_per_step": int(batch["attention_mask"].sum())}
    for threads in (1, 2) if on.type == "cpu" else (1,):
        torch.set_num_threads(threads)
        step(lambda: ft.assistant_loss(model, batch))  # warm-up
        out[f"assistant_loss_step_s_{threads}t"] = _median_time(assistant, repeats)
    torch.set_num_threads(1)
    out["full_logits_step_s_1t"] = _median_time(full, repeats)
    out["assistant_vs_full_speedup"] = (
        out["full_logits_step_s_1t"] / out["assistant_loss_step_s_1t"]
    )
    if "assistant_loss_step_s_2t" in out:
        out["threads_1_vs_2_speedup"] = (
            out["assistant_loss_step_s_2t"] / out["assistant_loss_step_s_1t"]
        )
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default=BASE, help=f"spec or local HF directory (default {BASE})")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    args = p.parse_args()
    torch.set_num_threads(1)
    figures: dict[str, Any] = {
        "machine": machine(),
        "model": args.model,
        "device": args.device,
        "dtype": args.dtype,
    }
    if args.model == BASE:
        figures.update(load_times())
    figures.update(step_times(args.repeats, args.model, args.device, args.dtype))
    if "load_gguf_s" in figures:
        print(f"load {BASE}: GGUF {figures['load_gguf_s']:.1f} s vs cache {figures['load_cached_s']:.1f} s "
              f"({figures['load_speedup']:.1f}x)")  # fmt: skip
    print(f"SFT step ({figures['tokens_per_step']} tokens, 1 thread): full logits "
          f"{figures['full_logits_step_s_1t']:.2f} s vs assistant-only {figures['assistant_loss_step_s_1t']:.2f} s "
          f"({figures['assistant_vs_full_speedup']:.2f}x)")  # fmt: skip
    if "threads_1_vs_2_speedup" in figures:
        print(f"SFT step, 2 threads {figures['assistant_loss_step_s_2t']:.2f} s vs 1 thread "
              f"({figures['threads_1_vs_2_speedup']:.2f}x for 1 thread)")  # fmt: skip
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
