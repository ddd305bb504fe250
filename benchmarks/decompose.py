"""Decomposing one direction against a real-scale SAE: 65,536 features × d_in 4096 (Llama Scope 8x
size), random weights, on this machine — plus our OMP vs scikit-learn's ``orthogonal_mp`` side by side.

    python benchmarks/decompose.py --json out/decompose.json
    python benchmarks/decompose.py --d-sae 8192 --d-in 1024     # quick
    python benchmarks/decompose.py --device cuda --sae-dtype bfloat16 --json out/decompose_gpu.json

``seconds`` is the whole ``decompose()`` (preflight on --preflight-rows tokens, cosines with every
decoder row and a chance level, OMP for k = 1…K, data view over a synthetic store of --tokens
tokens, encoder view); ``peak_rss_mb`` is the process peak right after it (the SAE's two 1 GiB
matrices included). The scikit-learn comparison runs afterwards on a normalised copy of the decoder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser, peak_rss_mb, write_json

from activation_store.create import HookEntry, ModelEntry, create_store, prepare_model
from activation_store.direction import Direction
from activation_store.labels import write_label
from activation_store.reader import ActivationStore
from activation_store.tokens import TokenTable
from activation_store.writer import ActivationWriter

HOOK = "blocks.10.hook_resid_post"


def random_sae(d_in: int, d_sae: int, seed: int) -> Any:
    """A standard sae_lens SAE with random unit decoder rows and W_enc = W_decᵀ (sparse-ish codes)."""
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name=HOOK, model_name="benchmark")
    torch.manual_seed(seed)
    cfg = StandardSAEConfig(d_in=d_in, d_sae=d_sae, device="meta", metadata=meta)
    sae = StandardSAE(cfg)
    g = torch.Generator().manual_seed(seed)
    W_dec = torch.randn(d_sae, d_in, generator=g)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    state = {
        "W_dec": W_dec,
        "W_enc": W_dec.T.contiguous(),
        "b_enc": torch.full((d_sae,), -0.05),
        "b_dec": torch.zeros(d_in),
    }
    sae.load_state_dict(state, assign=True)
    sae.cfg.device = "cpu"
    return sae.eval()


def on_device(sae: Any, device: str, dtype: str) -> Any:
    """The SAE moved to ``device`` in ``dtype``, its config saying so (as ``load_sae`` leaves it)."""
    sae = sae.to(device=device, dtype=getattr(torch, dtype))  # sae_lens updates cfg.device
    sae.cfg.dtype = dtype
    return sae.eval()


def synthetic_store(path: Path, n_tokens: int, d_in: int, seed: int) -> None:
    seq_len = 256
    n_seq = max(1, n_tokens // seq_len)
    rng = np.random.default_rng(seed)
    tokens = TokenTable.from_sequences(
        [f"s{i}" for i in range(n_seq)],
        [rng.integers(0, 1000, seq_len).tolist() for _ in range(n_seq)],
    )
    create_store(path, tokens, tokenizer_id="bench", config={})
    entry = ModelEntry(
        key="base", model_id="benchmark", architecture="Synthetic", fingerprint="-", d_model=d_in,
        n_layers=32, model_dtype="float32", tokenizer_id="bench",
        hooks=(HookEntry(name=HOOK, layer=10, meaning="bench", hf_module="-"),), store_dtype="float16",
    )  # fmt: skip
    prepare_model(path, entry, mode="new")
    with ActivationWriter(path, "base", start_row=0) as writer:
        for s in range(n_seq):
            x = rng.normal(size=(seq_len, d_in)).astype(np.float32)
            writer.submit(s, s * seq_len, {HOOK: torch.from_numpy(x)})
    pos = tokens.positions
    write_label(path, "backtracking_start", np.isin(pos, (60, 130, 200)).astype(np.uint8))
    write_label(path, "thinking", (pos >= 4).astype(np.uint8))


N_PLANTED = 20


def direction(sae: Any, seed: int) -> tuple[Direction, list[int]]:
    """20 random features with random coefficients plus a small Gaussian part (so OMP runs all K
    steps); returns the direction and the planted features."""
    g = torch.Generator().manual_seed(seed + 1)
    idx = torch.randperm(sae.cfg.d_sae, generator=g)[:N_PLANTED]
    coef = torch.randn(N_PLANTED, generator=g)
    v = coef @ sae.W_dec.detach()[idx] + 0.02 * torch.randn(sae.cfg.d_in, generator=g)
    d = Direction(name="bench", vector=v, model="base", hook=HOOK, kind="benchmark")
    return d, idx.tolist()


def sklearn_omp(W_dec: torch.Tensor, v: torch.Tensor, k: int) -> tuple[float, list[int]]:
    """scikit-learn's OMP on unit atoms (a normalised copy; the Fortran-order view is not copied)."""
    from sklearn.linear_model import orthogonal_mp

    atoms = (W_dec / W_dec.norm(dim=1, keepdim=True)).numpy()  # [d_sae, d_in], C order
    t0 = time.perf_counter()
    coef = orthogonal_mp(atoms.T, v.numpy(), n_nonzero_coefs=k, copy_X=False)
    seconds = time.perf_counter() - t0
    return seconds, sorted(np.flatnonzero(coef).tolist())


def arguments() -> argparse.Namespace:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--d-sae", type=int, default=65536)
    p.add_argument("--d-in", type=int, default=4096)
    p.add_argument("--k-max", type=int, default=32)
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--preflight-rows", type=int, default=256)
    p.add_argument("--skip-sklearn", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads", type=int, default=None, help="torch and BLAS threads (default: all)"
    )
    p.add_argument("--device", default="cpu", help="where the SAE lives: cpu, cuda, cuda:N")
    p.add_argument(
        "--sae-dtype", default="float32", choices=("float32", "bfloat16", "float16"),
        help="SAE precision (products with the decoder are float32 either way)",
    )  # fmt: skip
    args = p.parse_args()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    return args


def time_decompose(sae: Any, d: Direction, args: argparse.Namespace) -> dict[str, Any]:
    """``decompose()`` on a synthetic store: wall time, stage times, peak RSS."""
    import sklearn.metrics  # noqa: F401 — imported before timing: the data view's AUROC uses it

    from sae_analysis.config import DecomposeConfig
    from sae_analysis.loading import LoadedSae
    from sae_analysis.pipeline import decompose

    loaded = LoadedSae(
        sae=sae, sae_id="random", source="directory", architecture="standard",
        hook_name=HOOK, model_name="benchmark", metadata_model_name="benchmark",
    )  # fmt: skip
    config = DecomposeConfig(
        k_max=args.k_max, preflight_rows=args.preflight_rows, force=True, umap=False,
        device=args.device, sae_dtype=args.sae_dtype,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "store.h5"
        synthetic_store(store_path, args.tokens, args.d_in, args.seed)
        rss_before = peak_rss_mb()
        with ActivationStore(store_path) as store:
            t0 = time.perf_counter()
            result = decompose(d, loaded, store, config)
            seconds = time.perf_counter() - t0
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_decompose_mb": round(rss_before, 1),
        "stage_seconds": result.seconds,
    }


def main() -> None:
    args = arguments()
    from sae_analysis.methods.sparse import sparse_reconstruction

    t0 = time.perf_counter()
    sae = random_sae(args.d_in, args.d_sae, args.seed)
    build_s = time.perf_counter() - t0
    d, planted = direction(sae, args.seed)  # on the CPU in float32, before any move
    if args.device != "cpu" or args.sae_dtype != "float32":
        sae = on_device(sae, args.device, args.sae_dtype)
    figures = time_decompose(sae, d, args)
    print(
        f"decompose(): {figures['seconds']:.2f} s, peak RSS {figures['peak_rss_mb']:.0f} MB "
        f"(before: {figures['rss_before_decompose_mb']:.0f} MB); stages {figures['stage_seconds']}"
    )
    W = sae.W_dec.detach()
    t0 = time.perf_counter()
    ours = sparse_reconstruction(W, d.vector, args.k_max)
    if W.is_cuda:
        torch.cuda.synchronize()
    omp_s = time.perf_counter() - t0
    recovered = len(set(planted) & set(ours.indices)) / len(planted)
    figures.update(
        sae_build_seconds=round(build_s, 2), d_sae=args.d_sae, d_in=args.d_in, k_max=args.k_max,
        store_tokens=args.tokens, device=args.device, sae_dtype=args.sae_dtype, omp_steps=ours.steps, omp_seconds=round(omp_s, 3),
        explained_variance_at_k=round(ours.explained_variance[-1], 6), planted_recovered=recovered,
        machine={**machine(), "load_average_1m": round(os.getloadavg()[0], 2)},
    )  # fmt: skip
    print(
        f"OMP k=1..{args.k_max}: {omp_s:.2f} s ({omp_s / ours.steps * 1e3:.0f} ms/step), explained "
        f"variance {ours.explained_variance[-1]:.4f}, planted features recovered {recovered:.0%}"
    )
    if not args.skip_sklearn:
        sk_s, sk_support = sklearn_omp(W.to("cpu", torch.float32), d.vector, args.k_max)
        same = sk_support == sorted(ours.indices)
        figures.update(
            sklearn_omp_seconds=round(sk_s, 3), speedup_vs_sklearn=round(sk_s / omp_s, 2),
            same_support_as_sklearn=same, sklearn_normalised_copy_mb=round(W.numel() * 4 / 2**20, 1),
        )  # fmt: skip
        print(
            f"sklearn orthogonal_mp k={args.k_max}: {sk_s:.2f} s → ours/sklearn speed "
            f"{sk_s / omp_s:.2f}× (same support: {same}); sklearn needs a normalised copy of the "
            f"decoder ({figures['sklearn_normalised_copy_mb']:.0f} MB), ours reads it in place"
        )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
