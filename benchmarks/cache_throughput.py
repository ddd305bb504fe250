"""Caching throughput: our HDF5 caching vs a bare forward pass, TransformerLens + numpy.save, and
SAELens's CacheActivationsRunner, on the same model, tokens and hooks — plus peak RSS for a small vs
a large caching run, and the store's compression options.

    python benchmarks/cache_throughput.py --json out/cache.json            # embedded default model
    python benchmarks/cache_throughput.py --model tiny-llama --n-seq 64    # quick

Targets on a 2-core CPU: ours/forward ≥ 0.9, ours/SAELens ≥ 3, RSS flat (±10 %) from 10k to 200k tokens.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import corpus_token_sequences, machine, parser, peak_rss_mb, timed, write_json

from activation_store.cache_config import CacheConfig
from activation_store.capture import cache_activations
from activation_store.models import ModelConfig, known_specs, load_model
from activation_store.models.hooks import stop_layer
from activation_store.tokens import TokenTable


def default_model() -> str:
    return "smollm2-135m" if "smollm2-135m" in known_specs() else "tiny-llama"


def default_hooks(n_layers: int) -> list[str]:
    """Four residual hooks up to the middle of the model (block 15 of SmolLM2's 30)."""
    last = min(n_layers - 1, n_layers // 2)
    layers = sorted({max(0, round(last * k / 4)) for k in (1, 2, 3, 4)})
    return [f"blocks.{layer}.hook_resid_post" for layer in layers]


def bare_forward(model: Any, batches: list[torch.Tensor], stop: int | None) -> None:
    with torch.inference_mode():
        for batch in batches:
            model(batch, return_type=None, stop_at_layer=stop)


def ours(loaded: Any, tokens: TokenTable, hooks: list[str], out: Path, **cfg: Any) -> None:
    if out.exists():
        out.unlink()
    config = CacheConfig(hooks=tuple(hooks), name="m", **cfg)
    cache_activations(loaded, tokens, out, config, progress=False)


def tl_numpy(
    model: Any, batches: list[torch.Tensor], hooks: list[str], stop: int | None, out: Path
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        for i, batch in enumerate(batches):
            _, cache = model.run_with_cache(batch, names_filter=hooks, stop_at_layer=stop)
            for h in hooks:
                np.save(out / f"{h}_{i}.npy", cache[h].to(torch.float16).cpu().numpy())


def saelens(model: Any, seqs: list[list[int]], hooks: list[str], batch: int, root: Path) -> None:
    """SAELens's runner, one run per hook (it caches one hook per run). It works offline only with
    its model loader replaced by one returning our model and an in-memory dataset."""
    import datasets
    import sae_lens.cache_activations_runner as car
    from sae_lens import CacheActivationsRunner, CacheActivationsRunnerConfig

    car.load_model = lambda **_: model  # type: ignore[assignment]
    ds = datasets.Dataset.from_dict({"input_ids": seqs})
    n_tokens = len(seqs) * len(seqs[0])
    bytes_per_token = model.cfg.d_model * 2
    # One buffer holding exactly our tokens (the default 2 GB buffer would cycle the dataset).
    buffer_gb = (n_tokens * bytes_per_token + bytes_per_token // 2) / 1e9
    for i, hook in enumerate(hooks):
        cfg = CacheActivationsRunnerConfig(
            dataset_path="unused",
            model_name="ours",
            model_batch_size=batch,
            hook_name=hook,
            d_in=model.cfg.d_model,
            training_tokens=n_tokens,
            buffer_size_gb=buffer_gb,
            context_size=len(seqs[0]),
            new_cached_activations_path=str(root / f"hook{i}"),
            shuffle=False,
            dtype="float16",
            device=str(model.cfg.device),
            prepend_bos=False,
            streaming=False,
        )
        cached = CacheActivationsRunner(cfg, override_dataset=ds).run()
        if len(cached) != len(seqs):  # make sure SAELens did the same work, no more, no less
            raise RuntimeError(f"SAELens cached {len(cached)} sequences, expected {len(seqs)}")


def rss_child(model: str, n_tokens: int, seq_len: int, hooks: list[str], workdir: Path) -> float:
    """Peak RSS (MB) of a fresh process that caches ``n_tokens`` tokens into a store."""
    code = f"""
import sys, torch; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
torch.set_num_threads({torch.get_num_threads()})
import cache_throughput as ct
ct.rss_run({model!r}, {n_tokens}, {seq_len}, {hooks!r}, {str(workdir)!r})
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def rss_run(model: str, n_tokens: int, seq_len: int, hooks: list[str], workdir: str) -> None:
    loaded = load_model(ModelConfig(model=model))
    n_seq = n_tokens // seq_len
    base = corpus_token_sequences(loaded.tokenizer, min(n_seq, 512), seq_len)
    seqs = [base[i % len(base)] for i in range(n_seq)]
    tokens = TokenTable.from_sequences([f"s{i}" for i in range(n_seq)], seqs)
    ours(loaded, tokens, hooks, Path(workdir) / f"rss_{n_tokens}.h5", batch_tokens=8 * seq_len)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model spec (default: smollm2-135m if present)")
    p.add_argument("--n-seq", type=int, default=48, help="sequences per variant")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch", type=int, default=8, help="sequences per forward batch")
    p.add_argument("--rss-tokens", default="10000,200000", help="small,large token counts for RSS")
    p.add_argument("--skip-saelens", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default); also for RSS runs",
    )
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model_name = args.model or default_model()
    loaded = load_model(ModelConfig(model=model_name, device=args.device, dtype=args.dtype))
    model = loaded.model
    hooks = default_hooks(loaded.n_layers)
    specs = [loaded.parse_hook(h) for h in hooks]
    stop = stop_layer(specs, loaded.n_layers)
    seqs = corpus_token_sequences(loaded.tokenizer, args.n_seq, args.seq_len)
    n_tokens = args.n_seq * args.seq_len
    tokens = TokenTable.from_sequences([f"s{i}" for i in range(len(seqs))], seqs)
    batches = [
        torch.tensor(seqs[i : i + args.batch], device=loaded.device)
        for i in range(0, len(seqs), args.batch)
    ]
    print(f"model {model_name} ({loaded.n_layers} layers, d_model {loaded.d_model}), hooks {hooks}")
    print(f"{n_tokens:,} tokens in batches of {args.batch}×{args.seq_len}; {machine()}")

    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    try:
        bare_forward(model, batches[:1], stop)  # warm-up
        seconds: dict[str, float] = {}
        seconds["forward"] = timed(lambda: bare_forward(model, batches, stop))
        cfg = {"batch_tokens": args.batch * args.seq_len}
        seconds["ours"] = timed(lambda: ours(loaded, tokens, hooks, work / "ours.h5", **cfg))
        seconds["tl_run_with_cache_numpy"] = timed(
            lambda: tl_numpy(model, batches, hooks, stop, work / "npy")
        )
        if not args.skip_saelens:
            seconds["saelens_runner"] = timed(
                lambda: saelens(model, seqs, hooks, args.batch, work / "sl")
            )
        compression = {}
        for comp in ("none", "lzf", "gzip"):
            path = work / f"comp_{comp}.h5"
            t = timed(lambda c=comp, p=path: ours(loaded, tokens, hooks, p, compression=c, **cfg))
            compression[comp] = {
                "tokens_per_s": n_tokens / t,
                "mb_on_disk": path.stat().st_blocks * 512 / 1e6,
            }
        for k, v in seconds.items():
            print(f"{k:>26}: {n_tokens / v:8.0f} tok/s", flush=True)
        rss_small, rss_large = (int(x) for x in args.rss_tokens.split(","))
        rss = {
            n: rss_child(model_name, n, args.seq_len, hooks, work) for n in (rss_small, rss_large)
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    tps = {k: n_tokens / v for k, v in seconds.items()}
    figures: dict[str, Any] = {
        "model": model_name,
        "hooks": hooks,
        "n_tokens": n_tokens,
        "batch": [args.batch, args.seq_len],
        "machine": machine(),
        "tokens_per_s": tps,
        "ours_over_forward": tps["ours"] / tps["forward"],
        "ours_over_tl_numpy": tps["ours"] / tps["tl_run_with_cache_numpy"],
        "compression": compression,
        "rss_10k_mb": rss[rss_small],
        "rss_200k_mb": rss[rss_large],
        "rss_tokens": [rss_small, rss_large],
    }
    if "saelens_runner" in tps:
        figures["ours_over_saelens"] = tps["ours"] / tps["saelens_runner"]
        # SAELens runs once per hook, each run stopping after its own block: the ratio can reach
        # at most sum(L_i + 1) / max(L_i + 1) for these hooks (2.6 for blocks 4, 8, 11, 15).
        depths = [s.layer + 1 for s in specs if s.layer is not None]
        figures["ours_over_saelens_bound"] = sum(depths) / max(depths) if depths else None
    for k, v in tps.items():
        print(f"{k:>26}: {v:8.0f} tok/s")
    print(f"ours/forward = {figures['ours_over_forward']:.2f} (target ≥ 0.9)")
    if "ours_over_saelens" in figures:
        print(
            f"ours/SAELens = {figures['ours_over_saelens']:.2f} (target ≥ 3; at most "
            f"{figures['ours_over_saelens_bound']:.2f} for these hooks: SAELens stops each run early)"
        )
    for comp, c in compression.items():
        print(f"compression {comp:>4}: {c['tokens_per_s']:8.0f} tok/s, {c['mb_on_disk']:.1f} MB")
    print(
        f"peak RSS: {rss[rss_small]:.0f} MB at {rss_small:,} tokens, {rss[rss_large]:.0f} MB at {rss_large:,}"
    )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
