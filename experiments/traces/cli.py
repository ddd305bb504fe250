"""``backtrack traces``: generate reasoning traces (JSONL) from a prompt set."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from activation_store.core.configs import add_config_arguments

if TYPE_CHECKING:
    from activation_store.models.config import ModelConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from activation_store.models.config import ModelConfig
    from experiments.generation.config import GenerationConfig
    from experiments.traces.config import TraceConfig

    parser = subparsers.add_parser(
        "traces",
        help="generate reasoning traces (JSONL) for a prompt set",
        description=(
            "Generate one trace per prompt with MODEL (batched, KV cache; greedy or sampled) and "
            "append it to --out as one JSON line: prompt id, model id, settings, full text, "
            "thinking span, token ids and the char offsets of every token. Rerunning skips prompts "
            "already in --out, so an interrupted run continues where it stopped."
        ),
    )
    add_config_arguments(parser, ModelConfig)
    add_config_arguments(parser, TraceConfig)
    add_config_arguments(parser, GenerationConfig, skip=("seed",))
    parser.add_argument(
        "--sampling-seed",
        type=int,
        default=GenerationConfig.seed,
        help="seed of sampling (temperature > 0); each prompt's stream derives from it and the "
        f"prompt id (default: {GenerationConfig.seed})",
    )
    parser.add_argument("--out", required=True, help="traces JSONL to create or continue")
    parser.add_argument(
        "--overwrite", action="store_true", help="start --out afresh instead of continuing it"
    )
    parser.set_defaults(handler=_traces)


def _traces(args: argparse.Namespace) -> int:
    from pathlib import Path

    from activation_store.core.configs import config_from_args
    from activation_store.core.errors import InputError
    from activation_store.models.config import ModelConfig
    from activation_store.models.loader import known_specs
    from activation_store.preflight import check_model_available, check_output_file
    from experiments.generation.config import GenerationConfig
    from experiments.prompts import load_prompts
    from experiments.prompts.selection import select_prompts
    from experiments.traces.config import TraceConfig
    from experiments.traces.record import iter_traces
    from experiments.traces.run import generate_traces

    model_cfg = config_from_args(ModelConfig, args)
    trace_cfg = config_from_args(TraceConfig, args)
    gen_cfg = config_from_args(GenerationConfig, args, seed=args.sampling_seed)
    selected = select_prompts(
        load_prompts(
            trace_cfg.prompts,
            split=None if trace_cfg.split == "all" else trace_cfg.split,
            categories=trace_cfg.categories or None,
        ),
        trace_cfg.limit,
        how=trace_cfg.selection,
        seed=trace_cfg.selection_seed,
    )
    problems = selected.problems
    check_model_available(model_cfg.model)
    check_output_file(args.out, create_parents=True)
    if trace_cfg.engine == "vllm":
        from experiments.generation.vllm_engine import INSTALL_HINT, vllm_available

        if not vllm_available():
            raise InputError(INSTALL_HINT)
        if model_cfg.device_map is not None:
            raise InputError(
                "--device-map splits a model for caching; the vLLM engine loads it whole (drop "
                "--device-map)"
            )
    if Path(args.out).exists() and not args.overwrite:
        for _ in iter_traces(args.out):  # the traces to continue must parse
            pass
    covered = sum(n > 0 for n in selected.categories.values())
    print(
        f"{len(problems)} prompts ({selected.how}) from {covered} of "
        f"{len(selected.categories)} categories"
    )
    model_id = (
        model_cfg.model
        if model_cfg.model in known_specs()
        else str(Path(model_cfg.model).expanduser().resolve())
    )
    with _generator(model_cfg, trace_cfg.engine) as (hf_model, tokenizer, vllm):
        result = generate_traces(
            hf_model,
            tokenizer,
            model_id,
            problems,
            args.out,
            gen_cfg,
            trace_cfg,
            overwrite=args.overwrite,
            vllm=vllm,
        )
    print(
        f"wrote {result.written} traces to {result.path} ({result.skipped} already there); "
        f"{result.new_tokens:,} new tokens at {result.tokens_per_s:,.0f} tok/s"
    )
    return 0


@contextlib.contextmanager
def _generator(model_cfg: ModelConfig, engine: str) -> Iterator[tuple[Any, Any, Any]]:
    """(HF model, tokenizer, None) or (None, tokenizer, vLLM engine); a vLLM engine this command
    started is shut down when the traces are written."""
    if engine != "vllm":
        from activation_store.models.loader import load_hf_model

        hf_model, tokenizer = load_hf_model(model_cfg)
        yield hf_model, tokenizer, None
        return
    from experiments.generation.vllm_engine import VLLMEngine

    with VLLMEngine.session(model_cfg.model, dtype=model_cfg.dtype) as vllm:
        yield None, vllm.tokenizer, vllm
