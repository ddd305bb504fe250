"""``backtrack cache`` and ``backtrack store info``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from activation_store.core.configs import add_config_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from activation_store.cache_config import CacheConfig
    from activation_store.models.config import ModelConfig

    cache = subparsers.add_parser(
        "cache",
        help="cache residual-stream activations of a model into an HDF5 store",
        description=(
            "Run MODEL over the sequences of --tokens and store the activations of --hooks in the "
            "HDF5 store --out (one forward pass per batch; pads are never stored). A second model "
            "can be cached into the same store over the same tokens. Progress is committed batch "
            "by batch: after an interruption, rerun with --resume."
        ),
    )
    add_config_arguments(cache, ModelConfig)
    cache.add_argument(
        "--tokens",
        default=None,
        help='JSONL with "id" and "token_ids" or "text" per line (a traces file works); '
        "default: the tokens already in --out",
    )
    cache.add_argument("--out", required=True, help="the HDF5 store to create or add to")
    cache.add_argument(
        "--chat-template",
        action="store_true",
        help='wrap each "text" as a user message with the tokenizer\'s chat template',
    )
    add_config_arguments(cache, CacheConfig)
    cache.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="data parallel: cache with N processes (launches torchrun --standalone "
        "--nproc-per-node N; each caches a shard, --out joins them); on CUDA rank r uses cuda:r",
    )
    cache.add_argument(
        "--ignore-disk-space",
        action="store_true",
        help="cache even if the file system has less free space than the printed size estimate",
    )
    cache.set_defaults(handler=_cache)

    store = subparsers.add_parser("store", help="inspect an HDF5 activation store")
    store_sub = store.add_subparsers(dest="store_command", metavar="SUBCOMMAND", required=True)
    info = store_sub.add_parser("info", help="what a store holds: sizes, models, hooks, labels")
    info.add_argument("path", help="the .h5 store")
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(handler=_info)


def _cache(args: argparse.Namespace) -> int:
    from pathlib import Path

    from activation_store.cache_config import CacheConfig
    from activation_store.capture import cache_activations
    from activation_store.core.configs import config_from_args
    from activation_store.core.errors import InputError
    from activation_store.create import read_tokens
    from activation_store.h5io import open_store_file
    from activation_store.models.config import ModelConfig
    from activation_store.models.loader import load_model
    from activation_store.token_input import load_token_file

    model_cfg = config_from_args(ModelConfig, args)
    cache_cfg = config_from_args(CacheConfig, args)
    if args.nproc < 1:
        raise InputError(f"--nproc {args.nproc}: need at least 1 process")
    if args.tokens is None and not Path(args.out).exists():
        raise InputError(f"--tokens is required: store {args.out!r} does not exist yet")
    _check_cache_inputs(args, model_cfg, cache_cfg)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.nproc > 1 and world == 1:
        return _launch_torchrun(args.nproc)
    if world > 1:
        model_cfg = _rank_device(model_cfg)
    if cache_cfg.capture == "hf":
        from activation_store.hf_capture import load_capture_model

        loaded: Any = load_capture_model(model_cfg)
    else:
        loaded = load_model(model_cfg)
    if args.tokens is not None:
        tokens = load_token_file(args.tokens, loaded.tokenizer, chat_template=args.chat_template)
    else:
        with open_store_file(args.out, "r") as f:
            tokens = read_tokens(f)
    if world > 1:
        from activation_store.shards import cache_sharded, torch_comm

        with torch_comm() as comm:
            result = cache_sharded(
                loaded,
                tokens,
                args.out,
                cache_cfg,
                comm,
                check_disk_space=not args.ignore_disk_space,
            )
        print(
            f"rank {comm.rank}/{comm.world}: cached {result.rows_written:,} tokens of "
            f"{result.model_key!r} into {result.path} ({result.tokens_per_s:,.0f} tok/s), "
            f"joined in {args.out}"
        )
        return 0
    result = cache_activations(
        loaded, tokens, args.out, cache_cfg, check_disk_space=not args.ignore_disk_space
    )
    print(
        f"cached {result.rows_written:,} tokens of {result.model_key!r} into {result.path} "
        f"({result.tokens_per_s:,.0f} tok/s)"
    )
    return 0


def _launch_torchrun(nproc: int) -> int:
    """Rerun this command line under ``torchrun --standalone --nproc-per-node nproc``."""
    import subprocess
    import sys

    argv, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            argv.append(arg)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += ["--nproc-per-node", str(nproc), "-m", "experiments.cli", *argv]
    return subprocess.run(cmd).returncode


def _rank_device(model_cfg: Any) -> Any:
    """On CUDA, rank r of a torchrun launch uses GPU ``LOCAL_RANK``."""
    import dataclasses

    if model_cfg.device in ("cuda", "auto"):
        import torch

        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count()
            return dataclasses.replace(model_cfg, device=f"cuda:{local}")
    return model_cfg


def _check_cache_inputs(args: argparse.Namespace, model_cfg: Any, cache_cfg: Any) -> None:
    """Everything ``cache`` can check before loading the model: the model exists, the hooks exist
    in it, the tokens file parses, --out is writable, and a store already there takes the model."""
    from pathlib import Path

    from activation_store import schema
    from activation_store.capture import default_model_key
    from activation_store.create import already_cached
    from activation_store.h5io import check_store_file, open_store_file
    from activation_store.preflight import check_hooks, check_model_available, check_output_file
    from activation_store.token_input import check_token_file

    check_model_available(model_cfg.model)
    check_hooks(model_cfg.model, cache_cfg.hooks, allow_pos_embed=False)
    if args.tokens is not None:
        check_token_file(args.tokens)
    out = Path(args.out)
    check_output_file(out)
    if not out.exists():
        return
    model_id = model_cfg.model
    if "/" in model_id or model_id.startswith((".", "~")):
        model_id = str(Path(model_id).expanduser().resolve())
    key = cache_cfg.name or default_model_key(model_id)
    with open_store_file(out, "r") as f:
        check_store_file(f, out)
        if cache_cfg.mode == "new" and f"{schema.ACTIVATIONS}/{key}" in f:
            committed = int(f[schema.committed_path(key)][()])
            raise already_cached(out, key, committed, int(f.attrs["n_tokens"]))


def _info(args: argparse.Namespace) -> int:
    import json

    from activation_store.info import store_info

    info = store_info(args.path)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print(_format_info(info))
    return 0


def _format_info(info: dict[str, Any]) -> str:
    lines = [
        f"store {info['path']}  ({info['file_mb']:.1f} MB on disk, schema v{info['schema_version']}, "
        f"toolkit {info['toolkit_version']})",
        f"tokens: {info['n_tokens']:,} in {info['n_sequences']:,} sequences  "
        f"tokenizer: {info['tokenizer_id']}",
    ]
    if not info["models"]:
        lines.append("models: none yet")
    for name, m in info["models"].items():
        state = "complete" if m["committed_rows"] == info["n_tokens"] else "INCOMPLETE (--resume)"
        lines.append(
            f"model {name}: {m['model_id']} ({m['architecture']}, d_model {m['d_model']}, "
            f"{m['model_dtype']} → stored {m['store_dtype']}, compression {m['compression']}, "
            f"fingerprint {m['fingerprint']})"
        )
        lines.append(f"  committed rows: {m['committed_rows']:,}/{info['n_tokens']:,} [{state}]")
        for hook, h in m["hooks"].items():
            lines.append(f"  {hook}: {h['shape']} {h['mb']:.1f} MB — {h['meaning']}")
    if info["labels"]:
        for name, lab in info["labels"].items():
            lines.append(f"label {name}: {lab['dtype']}, {lab['nonzero']:,} non-zero")
    else:
        lines.append("labels: none yet")
    return "\n".join(lines)
