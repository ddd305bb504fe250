"""Per-token costs of the paper's 8B architecture (Llama-3.1-8B, DeepSeek-R1-Distill-Llama-8B) on
this device, with random weights: nothing is downloaded, no checkpoint is needed.

    python benchmarks/real_scale_cost.py --device cuda --dtype bfloat16 \\
        --json benchmarks/results/real_scale_cost_h200.json
    python benchmarks/real_scale_cost.py --small          # CPU smoke test, a few seconds

The model is ``LlamaForCausalLM(LlamaConfig(...))`` with Llama-3.1-8B's config.json values (hidden
4096, 32 layers, 32 heads, 8 KV heads, MLP 14336, vocab 128256, llama3 rope scaling), built directly
on ``--device`` in ``--dtype`` (default dtype switched for the construction, so an 8B model never
exists in float32). Random weights cost exactly what real ones do. Measured:

* ``forward``: what ``backtrack cache`` does per batch. The cache path stops after the last block a
  requested hook needs (``stop_at_layer`` in ``activation_store/capture.py``); here the decoder is
  truncated to ``--layers-to-run`` blocks. ``--forward-batch`` × ``--seq`` tokens per batch (4 ×
  1024 = ``CacheConfig.batch_tokens``). ``bare``: the forward alone; ``capture``: plus forward hooks
  that grab the ``--cached-layers`` residual streams and copy them to the host as float16 (what the
  store's writer receives). ``layer_tok_s`` = tokens × blocks run / s, the unit
  ``experiments/study/costs.py`` scales by. Our cache path runs the TransformerLens model, not this
  HF one (its attention is not fused): treat these figures as its upper bound.
* ``generate``: Hugging Face ``generate`` (KV cache, greedy) at each ``--batch``, ``--prompt-len``
  random prompt tokens, exactly ``--new-tokens`` new tokens per row (``min_new_tokens``);
  ``plain`` vs ``steered`` (a forward hook adding a fixed vector to the output of block
  ``--steer-layer``, the operation of ``backtrack steer``): ``steered_over_plain``. ``long``: one
  plain run at the first batch size with ``--long-new-tokens`` (traces run to ~1000 tokens, and
  decoding slows as the KV cache grows).
* ``engines`` (``--engines``, toolkit code): at each ``--batch``, the same work on our continuous
  engine (``experiments.generation.stream``) plain and steered (``steer_hf_rows``, one cell adding
  a vector at ``--steer-layer``), and, where vllm is installed, on vLLM (``load_format="dummy"``:
  random weights, no checkpoint) plain and steered (our hook installed in its workers):
  ``ours_over_hf_generate``, ``vllm_over_hf_generate``, ``steered_over_plain`` of each, and the
  decode step against the weights-read limit (weights / ``--hbm-tb-s``, 4.8 TB/s for an H200):
  ``step_over_weights_read``.
* ``peak_gb``: ``torch.cuda.max_memory_allocated`` during each phase (CUDA only), and the weights.

Without ``--engines`` this script imports only torch and transformers (no toolkit code), so it
runs in any environment that has them.
"""

from __future__ import annotations

import inspect
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser, write_json

LLAMA31_8B: dict[str, Any] = {
    "vocab_size": 128256,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
}
"""Llama-3.1-8B's config.json (DeepSeek-R1-Distill-Llama-8B has the same shapes)."""
LLAMA31_ROPE: dict[str, Any] = {
    "rope_type": "llama3",
    "rope_theta": 500000.0,
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}
SMALL: dict[str, Any] = {
    "vocab_size": 1024,
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "bos_token_id": 1,
    "eos_token_id": 2,
}
"""``--small``: the same architecture shrunk so the script runs in seconds on a CPU."""
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def llama_config(values: dict[str, Any]) -> Any:
    """A ``LlamaConfig`` with llama3 rope scaling, for transformers 4.x (rope_scaling) and 5.x."""
    from transformers import LlamaConfig

    rope: dict[str, Any] = {"rope_parameters": dict(LLAMA31_ROPE)}
    if "rope_parameters" not in inspect.signature(LlamaConfig.__init__).parameters:  # 4.x
        scaling = {k: v for k, v in LLAMA31_ROPE.items() if k != "rope_theta"}
        rope = {"rope_theta": LLAMA31_ROPE["rope_theta"], "rope_scaling": scaling}
    config = LlamaConfig(**values, **rope)
    config.architectures = ["LlamaForCausalLM"]
    return config


def build_model(config: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """Random-init model allocated on ``device`` in ``dtype`` from the start (no float32 copy)."""
    from transformers import LlamaForCausalLM

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def peak_memory(device: torch.device, into: dict[str, Any]) -> Iterator[None]:
    """Record ``peak_gb`` (allocated) of the block into ``into`` (CUDA only)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    yield
    if device.type == "cuda":
        into["peak_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 2)


def timed_runs(fn: Callable[[], Any], device: torch.device, repeats: int) -> list[float]:
    """Seconds of ``repeats`` calls after one warm-up call."""
    fn()
    sync(device)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        seconds.append(time.perf_counter() - t0)
    return seconds


def block_output(output: Any) -> torch.Tensor:
    """The hidden states a decoder block returns (a tensor in transformers 5, a tuple in 4)."""
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def hooks(modules: list[torch.nn.Module], hook: Callable[..., Any]) -> Iterator[None]:
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def measure_forward(model: Any, args: Any, device: torch.device) -> dict[str, Any]:
    """Caching's forward: the decoder truncated after ``--layers-to-run`` blocks, no LM head."""
    n_run = min(args.layers_to_run, model.config.num_hidden_layers)
    cached = [layer for layer in args.cached_layers if layer < n_run] or [n_run - 1]
    model.model.layers = torch.nn.ModuleList(list(model.model.layers)[:n_run])
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (args.forward_batch, args.seq), generator=gen)
    ids = ids.to(device)
    grabbed: list[torch.Tensor] = []

    def grab(module: Any, inputs: Any, output: Any) -> None:
        grabbed.append(block_output(output).reshape(-1, model.config.hidden_size).half().cpu())

    def bare() -> None:
        with torch.inference_mode():
            model.model(input_ids=ids, use_cache=False)

    def capture() -> None:
        grabbed.clear()
        with hooks([model.model.layers[i] for i in cached], grab), torch.inference_mode():
            model.model(input_ids=ids, use_cache=False)

    figures: dict[str, Any] = {
        "batch": args.forward_batch,
        "seq": args.seq,
        "layers_run": n_run,
        "cached_layers": cached,
    }
    n_tokens = args.forward_batch * args.seq
    for name, fn in (("bare", bare), ("capture", capture)):
        phase: dict[str, Any] = {}
        with peak_memory(device, phase):
            seconds = statistics.median(timed_runs(fn, device, args.repeats))
        phase["seconds"] = round(seconds, 5)
        phase["tok_s"] = round(n_tokens / seconds, 1)
        phase["layer_tok_s"] = round(n_tokens * n_run / seconds, 1)
        figures[name] = phase
    figures["capture_over_bare"] = round(figures["capture"]["tok_s"] / figures["bare"]["tok_s"], 3)
    return figures


def generate_once(model: Any, batch: int, prompt_len: int, n_new: int, device: torch.device) -> int:
    gen = torch.Generator().manual_seed(2)
    ids = torch.randint(3, model.config.vocab_size, (batch, prompt_len), generator=gen).to(device)
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=n_new,
            min_new_tokens=n_new,
            do_sample=False,
            pad_token_id=0,
        )
    return int((out.shape[1] - prompt_len) * out.shape[0])


def measure_generate(
    model: Any, batch: int, n_new: int, args: Any, device: torch.device
) -> dict[str, Any]:
    """Plain and steered tokens/s of generate at one shape, after a full-length warm-up run.

    The warm-up matters: the first run at a shape pays the allocator's growth as the KV cache grows
    (measured 2.5-3.4x slower per step on an H200), which a long study run pays only once.
    """
    layer = min(args.steer_layer, model.config.num_hidden_layers - 1)
    vector = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(3))
    vector = (4.0 * vector / vector.norm()).to(device=device, dtype=model.dtype)

    def add(module: Any, inputs: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (output[0] + vector, *output[1:])
        return output + vector

    figures: dict[str, Any] = {"batch": batch, "new_tokens": n_new, "steer_layer": layer}
    generate_once(model, batch, args.prompt_len, n_new, device)  # warm-up at this shape
    sync(device)
    for name, modules in (("plain", []), ("steered", [model.model.layers[layer]])):
        phase: dict[str, Any] = {}
        with hooks(modules, add), peak_memory(device, phase):
            t0 = time.perf_counter()
            tokens = generate_once(model, batch, args.prompt_len, n_new, device)
            sync(device)
            seconds = time.perf_counter() - t0
        phase.update(
            tokens=tokens,
            seconds=round(seconds, 3),
            tok_s=round(tokens / seconds, 1),
            ms_per_step=round(1000 * seconds / n_new, 2),
        )
        figures[name] = phase
    figures["steered_over_plain"] = round(
        figures["steered"]["tok_s"] / figures["plain"]["tok_s"], 3
    )
    return figures


def measure_tl_forward(model: Any, args: Any, device: torch.device) -> dict[str, Any]:
    """The cache path itself: the truncated model converted to TransformerLens by the toolkit's
    ``hf_to_hooked`` and run by ``activation_store.capture._forward`` (needs the toolkit and
    transformer_lens importable; call after :func:`measure_forward`, which truncates the model)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from activation_store.capture import _forward
    from activation_store.models.convert import hf_to_hooked
    from activation_store.models.hooks import parse_hook, stop_layer
    from activation_store.models.tiny import tiny_tokenizer

    n_run = len(model.model.layers)
    model.config.num_hidden_layers = n_run
    t0 = time.perf_counter()
    tl = hf_to_hooked(model, tiny_tokenizer(), model_id="bench", device=device, dtype=model.dtype)
    convert_s = time.perf_counter() - t0
    cached = [layer for layer in args.cached_layers if layer < n_run] or [n_run - 1]
    specs = [parse_hook(f"blocks.{layer}.hook_resid_post", n_run) for layer in cached]
    stop = stop_layer(specs, n_run)
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (args.forward_batch, args.seq), generator=gen)
    ids = ids.to(device)
    lengths = [args.seq] * args.forward_batch

    def run() -> None:
        acts = _forward(tl, ids, lengths, specs, stop)
        for act in acts.values():
            act.half().cpu()

    figures: dict[str, Any] = {"convert_seconds": round(convert_s, 1), "layers_run": n_run}
    with peak_memory(device, figures):
        seconds = statistics.median(timed_runs(run, device, args.repeats))
    n_tokens = args.forward_batch * args.seq
    figures.update(
        seconds=round(seconds, 5),
        tok_s=round(n_tokens / seconds, 1),
        layer_tok_s=round(n_tokens * n_run / seconds, 1),
    )
    return figures


def measure_store_capture(
    model: Any, args: Any, device: torch.device, bare_tok_s: float
) -> dict[str, Any]:
    """``backtrack cache``'s own path (HF hooks, rows converted on the device, pinned staging,
    writer thread, HDF5 store) on the same blocks and batch shape, over the bare forward's tok/s;
    with the process's peak host RAM (the weights were built on the device, as caching loads them)."""
    import tempfile

    from _common import peak_rss_mb

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

    from activation_store.cache_config import CacheConfig
    from activation_store.capture import cache_activations
    from activation_store.hf_capture import CaptureModel
    from activation_store.models.config import ModelConfig
    from activation_store.models.tiny import tiny_tokenizer
    from activation_store.tokens import TokenTable

    cap = CaptureModel(
        hf_model=model,
        tokenizer=tiny_tokenizer(),
        model_id="real-scale-random",
        architecture="LlamaForCausalLM",
        fingerprint="random",
        config=ModelConfig(model="real-scale-random", device=str(device)),
        n_ctx=args.seq,
    )
    n_run = min(args.layers_to_run, len(model.model.layers))  # as measure_forward
    cached = [layer for layer in args.cached_layers if layer < n_run] or [n_run - 1]
    hooks = tuple(f"blocks.{layer}.hook_resid_post" for layer in cached)
    n_batches = max(8, 2 * args.repeats)
    gen = torch.Generator().manual_seed(0)
    vocab = int(model.config.vocab_size)

    def run(n: int) -> float:
        n_seq = n * args.forward_batch
        ids = torch.randint(0, vocab, (n_seq, args.seq), generator=gen).tolist()
        tokens = TokenTable.from_sequences([f"s{i}" for i in range(n_seq)], ids)
        config = CacheConfig(hooks=hooks, name="m", batch_tokens=args.forward_batch * args.seq)
        with tempfile.TemporaryDirectory(prefix="real-scale-cache-") as tmp:
            result = cache_activations(
                cap, tokens, Path(tmp) / "s.h5", config, progress=False, check_disk_space=False
            )
        return result.tokens_per_s

    run(1)  # warm-up: allocator, pinned buffers
    tok_s = run(n_batches)
    return {
        "hooks": list(hooks),
        "batches": n_batches,
        "batch": [args.forward_batch, args.seq],
        "tok_s": round(tok_s, 1),
        "capture_over_bare": round(tok_s / bare_tok_s, 3),
        "peak_host_rss_gb": round(peak_rss_mb() / 1e3, 2),
    }


class _IdsOnly:
    """The little of a tokenizer the engine needs, for random token ids (no stop token)."""

    def __init__(self, vocab: int) -> None:
        self.vocab, self.eos_token_id, self.pad_token_id = vocab, None, 0

    def __len__(self) -> int:
        return self.vocab

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [1, 2]

    def decode(self, ids: Any, **kwargs: Any) -> str:
        return ""


def measure_engines(
    model: Any, batch: int, n_new: int, args: Any, device: torch.device, hf_tok_s: float
) -> dict[str, Any]:
    """Our continuous engine and vLLM on ``generate_once``'s work (random prompts, fixed length)."""
    from experiments.generation import GenerationConfig, stream
    from experiments.steering.interventions import Intervention
    from experiments.steering.interventions.operators import AddVectors, SteeringTerm
    from experiments.steering.interventions.rows import steer_hf_rows

    layer = min(args.steer_layer, model.config.num_hidden_layers - 1)
    vector = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(3))
    term = SteeringTerm(
        name="v", vector=vector / vector.norm(), coefficient=4.0, alpha=4.0, unit="unit"
    )
    steer = [Intervention(hook=f"blocks.{layer}.hook_resid_post", operator=AddVectors([term]))]
    gen = torch.Generator().manual_seed(2)
    prompts = torch.randint(
        3, model.config.vocab_size, (batch, args.prompt_len), generator=gen
    ).tolist()
    config = GenerationConfig(max_new_tokens=n_new, batch_size=batch, stop_at_think_end=False)
    tokenizer = _IdsOnly(int(model.config.vocab_size))
    saved_eos, model.generation_config.eos_token_id = model.generation_config.eos_token_id, None
    weights_read_ms = (
        1000
        * sum(p.numel() * p.element_size() for p in model.parameters())
        / (args.hbm_tb_s * 1e12)
    )
    figures: dict[str, Any] = {
        "batch": batch,
        "new_tokens": n_new,
        "weights_read_ms": round(weights_read_ms, 3),
    }

    def ours(cells: list[Any]) -> int:
        with steer_hf_rows(model, [cells], n_rows=batch) as handle:
            n = 0
            for done in stream(
                model,
                tokenizer,
                prompts,
                config,
                on_forward=lambda rows, lens, shared: handle.assign(
                    rows, [0] * len(rows), lens, shared
                ),
            ):
                n += sum(len(o.generated_ids) for _, o in done)
        return n

    try:
        ours([])  # warm-up at this shape
        for name, cells in (("ours_plain", []), ("ours_steered", steer)):
            sync(device)
            t0 = time.perf_counter()
            tokens = ours(cells)
            sync(device)
            seconds = time.perf_counter() - t0
            figures[name] = {
                "tokens": tokens,
                "tok_s": round(tokens / seconds, 1),
                "ms_per_step": round(1000 * seconds / n_new, 2),
            }
    finally:
        model.generation_config.eos_token_id = saved_eos
    figures["ours_over_hf_generate"] = round(figures["ours_plain"]["tok_s"] / hf_tok_s, 3)
    figures["ours_steered_over_plain"] = round(
        figures["ours_steered"]["tok_s"] / figures["ours_plain"]["tok_s"], 3
    )
    figures["ours_step_over_weights_read"] = round(
        figures["ours_plain"]["ms_per_step"] / weights_read_ms, 2
    )
    try:
        figures.update(measure_vllm(model, prompts, n_new, steer, args, hf_tok_s, weights_read_ms))
    except Exception as err:  # optional: record why it could not run
        figures["vllm"] = {"error": f"{type(err).__name__}: {err}"[:300]}
    return figures


_VLLM: dict[str, Any] = {}


def measure_vllm(
    model: Any,
    prompts: list[list[int]],
    n_new: int,
    steer: list[Any],
    args: Any,
    hf_tok_s: float,
    weights_read_ms: float,
) -> dict[str, Any]:
    """vLLM with random ("dummy") weights of the same config; one LLM for every batch size."""
    import os
    import tempfile
    from functools import partial

    os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    from experiments.steering.interventions import vllm as vllm_hooks

    if "llm" not in _VLLM:
        directory = tempfile.mkdtemp(prefix="vllm-dummy-")
        model.config.save_pretrained(directory)
        kwargs: dict[str, Any] = {"enforce_eager": True} if args.device == "cpu" else {}
        _VLLM["llm"] = LLM(
            model=directory,
            load_format="dummy",
            skip_tokenizer_init=True,
            dtype=str(model.dtype).removeprefix("torch."),
            max_model_len=args.prompt_len + max(args.new_tokens, args.long_new_tokens) + 8,
            tensor_parallel_size=args.tensor_parallel,
            **kwargs,
        )
    llm = _VLLM["llm"]
    params = SamplingParams(
        max_tokens=n_new, min_tokens=n_new, temperature=0, ignore_eos=True, detokenize=False
    )
    requests = [TokensPrompt(prompt_token_ids=p) for p in prompts]
    out: dict[str, Any] = {}
    llm.generate(requests, params, use_tqdm=False)  # warm-up
    for name, ivs in (("vllm_plain", []), ("vllm_steered", steer)):
        if ivs:
            llm.apply_model(partial(vllm_hooks.install, interventions=ivs))
        try:
            t0 = time.perf_counter()
            results = llm.generate(requests, params, use_tqdm=False)
            seconds = time.perf_counter() - t0
            if ivs:  # a compiled graph may skip Python hooks: say whether they ran
                out["vllm_hooks_ran"] = all(llm.apply_model(vllm_hooks.calls))
        finally:
            if ivs:
                llm.apply_model(vllm_hooks.remove)
        tokens = sum(len(r.outputs[0].token_ids) for r in results)
        out[name] = {
            "tokens": tokens,
            "tok_s": round(tokens / seconds, 1),
            "ms_per_step": round(1000 * seconds / n_new, 2),
        }
    out["vllm_over_hf_generate"] = round(out["vllm_plain"]["tok_s"] / hf_tok_s, 3)
    out["vllm_steered_over_plain"] = round(
        out["vllm_steered"]["tok_s"] / out["vllm_plain"]["tok_s"], 3
    )
    out["vllm_step_over_weights_read"] = round(
        out["vllm_plain"]["ms_per_step"] / weights_read_ms, 2
    )
    return out


def int_list(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p.strip()]


def arguments() -> Any:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default=None, choices=list(DTYPES), help="default: bfloat16 on cuda")
    p.add_argument("--small", action="store_true", help="shrunken config (smoke test on a CPU)")
    p.add_argument("--layers-to-run", type=int, default=15, help="blocks the caching forward runs")
    p.add_argument("--cached-layers", type=int_list, default=[6, 10, 14])
    p.add_argument("--forward-batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--batch", type=int_list, default=[32, 64], help="generation batch sizes")
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--long-new-tokens", type=int, default=1024, help="0: skip the long run")
    p.add_argument("--steer-layer", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5, help="forward repeats (median)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--engines", action="store_true", help="also our engine and vLLM (if installed)")
    p.add_argument("--hbm-tb-s", type=float, default=4.8, help="memory bandwidth (H200: 4.8 TB/s)")
    p.add_argument("--tensor-parallel", type=int, default=1, help="vLLM tensor parallel size")
    p.add_argument(
        "--tl",
        action="store_true",
        help="also time the cache path itself (toolkit + TransformerLens)",
    )
    args = p.parse_args()
    if args.small:
        args.seq, args.forward_batch = min(args.seq, 64), min(args.forward_batch, 2)
        args.batch = [min(b, 4) for b in args.batch][:1]
        args.new_tokens, args.long_new_tokens = min(args.new_tokens, 8), 0
        args.prompt_len, args.repeats = min(args.prompt_len, 8), min(args.repeats, 2)
    return args


def main() -> None:
    args = arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype or ("bfloat16" if device.type == "cuda" else "float32")]
    values = {**LLAMA31_8B, **(SMALL if args.small else {})}
    t0 = time.perf_counter()
    model = build_model(llama_config(values), device, dtype)
    sync(device)
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    figures: dict[str, Any] = {
        "architecture": "LlamaForCausalLM (Llama-3.1-8B shapes)" if not args.small else "small",
        "config": values,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "n_params": n_params,
        "weights_gb": round(n_params * torch.finfo(dtype).bits / 8 / 1e9, 2),
        "build_seconds": round(build_s, 1),
        "machine": machine(),
        "generate": {},
    }
    print(f"built {n_params / 1e6:,.1f}M params in {dtype} on {device} in {build_s:.1f} s")
    for batch in args.batch:
        gen = measure_generate(model, batch, args.new_tokens, args, device)
        figures["generate"][str(batch)] = gen
        plain, steered = gen["plain"], gen["steered"]
        print(
            f"generate batch {batch:3d} × {args.new_tokens} new: plain {plain['tok_s']:9.1f} tok/s "
            f"({plain['ms_per_step']} ms/step), steered {steered['tok_s']:9.1f} tok/s, "
            f"steered/plain {gen['steered_over_plain']:.3f}, peak {plain.get('peak_gb', '-')} GB"
        )
        if args.engines:
            engines = measure_engines(model, batch, args.new_tokens, args, device, plain["tok_s"])
            figures.setdefault("engines", {})[str(batch)] = engines
            print(f"engines batch {batch:3d}: {json.dumps(engines)}")
    if args.long_new_tokens:
        long = measure_generate(model, args.batch[0], args.long_new_tokens, args, device)
        figures["generate_long"] = long
        print(
            f"generate batch {args.batch[0]:3d} × {args.long_new_tokens} new: plain "
            f"{long['plain']['tok_s']:9.1f} tok/s ({long['plain']['ms_per_step']} ms/step), "
            f"steered {long['steered']['tok_s']:9.1f} tok/s, "
            f"peak {long['plain'].get('peak_gb', '-')} GB"
        )
    forward = measure_forward(model, args, device)
    figures["forward"] = forward
    for name in ("bare", "capture"):
        phase = forward[name]
        print(
            f"forward {name:7s} {forward['batch']} × {forward['seq']}, {forward['layers_run']} "
            f"blocks: {phase['tok_s']:10.1f} tok/s = {phase['layer_tok_s']:12.1f} layer·tok/s, "
            f"peak {phase.get('peak_gb', '-')} GB"
        )
    print(f"capture/bare {forward['capture_over_bare']:.3f}; weights {figures['weights_gb']} GB")
    store = measure_store_capture(model, args, device, forward["bare"]["tok_s"])
    figures["store_capture"] = store
    print(
        f"backtrack cache path into a store: {store['tok_s']:10.1f} tok/s, "
        f"over bare {store['capture_over_bare']:.3f}; peak host RSS {store['peak_host_rss_gb']} GB"
    )
    if args.tl:
        try:
            tl = measure_tl_forward(model, args, device)
        except Exception as err:  # optional phase: record why it could not run
            tl = {"error": f"{type(err).__name__}: {err}"[:300]}
        figures["forward_tl"] = tl
        if "error" in tl:
            print(f"forward TransformerLens: not measured ({tl['error']})")
        else:
            print(
                f"forward TransformerLens (cache path): {tl['tok_s']:10.1f} tok/s = "
                f"{tl['layer_tok_s']:12.1f} layer·tok/s, converted in {tl['convert_seconds']} s"
            )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
