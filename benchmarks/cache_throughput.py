"""Caching throughput: our HDF5 caching (the default HF capture path, and the older TransformerLens
path) vs a bare truncated forward pass, TransformerLens + numpy.save, and SAELens's
CacheActivationsRunner, on the same model, tokens and hooks — plus peak RSS for caching runs of
growing size, the store's compression options, and 2 torchrun processes over one (``dp2_over_dp1``,
one thread per process, same total work).

    python benchmarks/cache_throughput.py --json out/cache.json            # embedded default model
    python benchmarks/cache_throughput.py --model tiny-llama --n-seq 64    # quick

Targets on a 2-core CPU: ours/forward ≥ 0.95 (the bare HF forward through the same blocks),
ours/SAELens ≥ 3, RSS flat (±10 %) from 10k to 1M tokens, dp2/dp1 ≥ 1.6.
"""

from __future__ import annotations

import json
import os
import re
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
from activation_store.hf_capture import HookCapture, load_capture_model
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


def bare_hf_forward(cap: Any, batches: list[torch.Tensor], last: Any) -> None:
    """The HF forward cut after the last needed block (one hook that keeps a reference, no copy)."""
    with HookCapture(cap.hf_model, cap.architecture, [last]) as capture:
        for batch in batches:
            capture.run(batch)


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
    loaded = load_capture_model(ModelConfig(model=model))
    n_seq = n_tokens // seq_len
    base = corpus_token_sequences(loaded.tokenizer, min(n_seq, 512), seq_len)
    seqs = [base[i % len(base)] for i in range(n_seq)]
    tokens = TokenTable.from_sequences([f"s{i}" for i in range(n_seq)], seqs)
    ours(loaded, tokens, hooks, Path(workdir) / f"rss_{n_tokens}.h5", batch_tokens=8 * seq_len)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}))


def dp_seconds(
    model: str, seqs: list[list[int]], hooks: list[str], batch_tokens: int, nproc: int, work: Path
) -> float:
    """Seconds of caching ``seqs`` with ``nproc`` torchrun processes of one thread each (the
    slowest rank's caching time; model loading excluded), or one plain process for ``nproc=1``."""
    tokens = work / "dp_tokens.jsonl"
    with tokens.open("w") as fh:
        for i, ids in enumerate(seqs):
            fh.write(json.dumps({"id": f"s{i}", "token_ids": ids}) + "\n")
    out = work / f"dp{nproc}.h5"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    head = [sys.executable, "-m"]
    if nproc > 1:
        head += ["torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), "-m"]
    cmd = [*head, "experiments.cli", "cache", "--model", model, "--tokens", str(tokens)]
    cmd += ["--hooks", ",".join(hooks), "--out", str(out), "--name", "m"]
    cmd += ["--batch-tokens", str(batch_tokens), "--ignore-disk-space"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    found = re.findall(r"cached ([\d,]+) tokens .*?\(([\d,]+) tok/s\)", done.stdout)
    if len(found) != nproc:
        raise RuntimeError(f"expected {nproc} result lines, got: {done.stdout[-2000:]}")
    return max(int(n.replace(",", "")) / int(t.replace(",", "")) for n, t in found)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model spec (default: smollm2-135m if present)")
    p.add_argument("--n-seq", type=int, default=48, help="sequences per variant")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch", type=int, default=8, help="sequences per forward batch")
    p.add_argument(
        "--rss-tokens",
        default="10000,200000,1000000",
        help="token counts for RSS runs, comma-separated (10000 and 200000 give rss_10k_mb, "
        "rss_200k_mb)",
    )
    p.add_argument(
        "--rss-model",
        default=None,
        help="model of the RSS runs (default: --model); tiny-llama makes 1M tokens take minutes",
    )
    p.add_argument("--dp-seq", type=int, default=96, help="sequences of the dp2/dp1 runs (0: skip)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved runs of forward and ours")
    p.add_argument("--skip-tl", action="store_true", help="skip the TransformerLens variants")
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
    model_cfg = ModelConfig(model=model_name, device=args.device, dtype=args.dtype)
    cap = load_capture_model(model_cfg)
    loaded = None if args.skip_tl and args.skip_saelens else load_model(model_cfg)
    hooks = default_hooks(cap.n_layers)
    specs = [_spec(h, cap) for h in hooks]
    stop = stop_layer(specs, cap.n_layers)
    last = max(specs, key=lambda s: -1 if s.layer is None else s.layer)
    seqs = corpus_token_sequences(cap.tokenizer, args.n_seq, args.seq_len)
    n_tokens = args.n_seq * args.seq_len
    tokens = TokenTable.from_sequences([f"s{i}" for i in range(len(seqs))], seqs)
    batches = [
        torch.tensor(seqs[i : i + args.batch], device=cap.device)
        for i in range(0, len(seqs), args.batch)
    ]
    print(f"model {model_name} ({cap.n_layers} layers, d_model {cap.d_model}), hooks {hooks}")
    print(f"{n_tokens:,} tokens in batches of {args.batch}×{args.seq_len}; {machine()}")

    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    try:
        cfg = {"batch_tokens": args.batch * args.seq_len}
        bare_hf_forward(cap, batches[:1], last)  # warm-up of both (the first store pays imports)
        warm = TokenTable.from_sequences(["w"], seqs[:1])
        ours(cap, warm, hooks, work / "warm.h5", **cfg)
        seconds: dict[str, float] = {}
        # Side by side, interleaved: the best of --repeats of each (the machine is shared).
        for _ in range(args.repeats):
            for name, fn in (
                ("forward", lambda: bare_hf_forward(cap, batches, last)),
                ("ours", lambda: ours(cap, tokens, hooks, work / "ours.h5", **cfg)),
            ):
                seconds[name] = min(seconds.get(name, float("inf")), timed(fn))
        if loaded is not None and not args.skip_tl:
            model = loaded.model
            seconds["forward_tl"] = timed(lambda: bare_forward(model, batches, stop))
            seconds["ours_tl"] = timed(lambda: ours(loaded, tokens, hooks, work / "tl.h5", **cfg))
            seconds["tl_run_with_cache_numpy"] = timed(
                lambda: tl_numpy(model, batches, hooks, stop, work / "npy")
            )
        if loaded is not None and not args.skip_saelens:
            seconds["saelens_runner"] = timed(
                lambda: saelens(loaded.model, seqs, hooks, args.batch, work / "sl")
            )
        compression = {}
        for comp in ("none", "lzf", "gzip"):
            path = work / f"comp_{comp}.h5"

            def compressed(c: str = comp, p: Path = path) -> None:
                ours(cap, tokens, hooks, p, compression=c, **cfg)

            t = timed(compressed)
            compression[comp] = {
                "tokens_per_s": n_tokens / t,
                "mb_on_disk": path.stat().st_blocks * 512 / 1e6,
            }
        for k, v in seconds.items():
            print(f"{k:>26}: {n_tokens / v:8.0f} tok/s", flush=True)
        rss_sizes = [int(x) for x in args.rss_tokens.split(",") if x]
        rss_model = args.rss_model or model_name
        rss_hooks = hooks
        if rss_model != model_name:  # the same rule on the other model's depth
            rss_hooks = default_hooks(load_capture_model(ModelConfig(model=rss_model)).n_layers)
        rss = {}
        for n in rss_sizes:
            rss[n] = rss_child(rss_model, n, args.seq_len, rss_hooks, work)
            print(f"peak RSS at {n:,} tokens: {rss[n]:.0f} MB", flush=True)
        dp: dict[str, float] = {}
        if args.dp_seq:
            dp_seqs = corpus_token_sequences(cap.tokenizer, args.dp_seq, args.seq_len)
            bt = args.batch * args.seq_len
            for nproc in (1, 2):
                dp[f"dp{nproc}_s"] = dp_seconds(model_name, dp_seqs, hooks, bt, nproc, work)
                print(f"dp{nproc}: {dp[f'dp{nproc}_s']:.1f} s", flush=True)
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
        "compression": compression,
        "rss_mb": {str(n): v for n, v in rss.items()},
        "rss_model": rss_model,
        "rss_tokens": rss_sizes,
    }
    if rss:  # the smallest run, and 200k (else the next size): the keys the checks read
        sizes = sorted(rss)
        figures["rss_10k_mb"] = rss[sizes[0]]
        figures["rss_200k_mb"] = rss[200_000 if 200_000 in rss else sizes[min(1, len(sizes) - 1)]]
        if 1_000_000 in rss:
            figures["rss_1m_mb"] = rss[1_000_000]
        figures["rss_largest_over_smallest"] = rss[max(rss)] / rss[min(rss)]
    if dp:
        figures["dp_seconds"] = dp
        figures["dp_tokens"] = args.dp_seq * args.seq_len
        figures["dp2_over_dp1"] = dp["dp1_s"] / dp["dp2_s"]
    if "ours_tl" in tps:
        figures["ours_tl_over_forward_tl"] = tps["ours_tl"] / tps["forward_tl"]
        figures["ours_over_tl_numpy"] = tps["ours"] / tps["tl_run_with_cache_numpy"]
    if "saelens_runner" in tps:
        figures["ours_over_saelens"] = tps["ours"] / tps["saelens_runner"]
        # SAELens runs once per hook, each run stopping after its own block: the ratio can reach
        # at most sum(L_i + 1) / max(L_i + 1) for these hooks (2.6 for blocks 4, 8, 11, 15).
        depths = [s.layer + 1 for s in specs if s.layer is not None]
        figures["ours_over_saelens_bound"] = sum(depths) / max(depths) if depths else None
    for k, v in tps.items():
        print(f"{k:>26}: {v:8.0f} tok/s")
    print(f"ours/forward = {figures['ours_over_forward']:.2f} (target ≥ 0.95)")
    if "dp2_over_dp1" in figures:
        print(f"dp2/dp1 = {figures['dp2_over_dp1']:.2f} (target ≥ 1.6)")
    if "ours_over_saelens" in figures:
        print(
            f"ours/SAELens = {figures['ours_over_saelens']:.2f} (target ≥ 3; at most "
            f"{figures['ours_over_saelens_bound']:.2f} for these hooks: SAELens stops each run early)"
        )
    for comp, c in compression.items():
        print(f"compression {comp:>4}: {c['tokens_per_s']:8.0f} tok/s, {c['mb_on_disk']:.1f} MB")
    print("peak RSS: " + ", ".join(f"{v:.0f} MB at {n:,} tokens" for n, v in rss.items()))
    write_json(args.json, figures)


def _spec(hook: str, cap: Any) -> Any:
    from activation_store.models.hooks import parse_hook

    return parse_hook(hook, cap.n_layers, has_pos_embed=cap.has_pos_embed)


if __name__ == "__main__":
    main()
