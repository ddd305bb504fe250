"""``backtrack organism build``: traces → pre-check → finetune → export → evaluation → SAEs.

Every stage writes into ``out`` and is skipped when its outputs exist for the same config; the
finetuning stage resumes from its last checkpoint. A config that differs from the one a stage
was run with is refused, naming the field, so a build directory never mixes two recipes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
from pathlib import Path
from typing import Any

import torch

from activation_store.core.errors import InputError
from experiments.organism.config import BuildConfig, EvalConfig, FinetuneConfig, SaeConfig
from experiments.organism.families import make_problems, problem_key
from experiments.organism.finetune import finetune
from experiments.organism.trace_files import file_digest, read_traces, write_traces
from experiments.organism.traces import TraceConfig, make_traces

logger = logging.getLogger(__name__)


def _check_or_write_config(path: Path, config: Any, stage: str) -> None:
    """Write ``config`` to ``path``, or refuse if a different one is there (naming the field)."""
    current = json.loads(json.dumps(dataclasses.asdict(config)))
    if path.is_file():
        saved = json.loads(path.read_text())
        for key in sorted(set(saved) | set(current)):
            if saved.get(key) != current.get(key):
                raise InputError(
                    f"the {stage} stage in {str(path.parent)!r} was built with {key}="
                    f"{saved.get(key)!r}, now {current.get(key)!r}; pass the same value or use "
                    "a new --out"
                )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2))


def build_traces(out: Path, traces: TraceConfig, n_heldout: int) -> tuple[Path, Path]:
    """Training traces and held-out traces (disjoint prompts); skipped if already written."""
    directory = out / "traces"
    _check_or_write_config(directory / "config.json", traces, "traces")
    train, heldout = directory / "train.jsonl", directory / "heldout.jsonl"
    if train.is_file() and heldout.is_file():
        return train, heldout
    problems = make_problems(traces.n_traces, seed=traces.trace_seed, families=traces.families)
    seen = frozenset(problem_key(p) for p in problems)
    held = make_problems(n_heldout, seed=traces.trace_seed + 1, families=traces.families,
                         prefix="heldout", exclude=seen)  # fmt: skip
    write_traces(heldout, make_traces(held, dataclasses.replace(traces, n_traces=n_heldout)))
    write_traces(train, make_traces(problems, traces))
    logger.info(
        "wrote %d training and %d held-out traces to %s", len(problems), n_heldout, directory
    )
    return train, heldout


def run_finetune(out: Path, train: Path, config: FinetuneConfig) -> None:
    """Finetune (or resume) on the training traces in ``out/finetune``."""
    from activation_store.models import ModelConfig, load_hf_model
    from experiments.organism.chat import encode_trace, reasoner_tokenizer

    _, tokenizer = load_hf_model(ModelConfig(model=config.base_model))
    tokenizer = reasoner_tokenizer(tokenizer)
    examples = [encode_trace(tokenizer, t) for t in read_traces(train)]
    result = finetune(examples, config, out / "finetune", traces_digest=file_digest(train))
    logger.info(
        "finetuned %d steps, %d assistant tokens, final loss %.3f",
        result.steps,
        result.trained_tokens,
        result.final_loss,
    )


CLI_SKIPPED = {"stages", "ship", "phrasings", "lag_tails"}
"""Fields left out of :func:`equivalent_command`: which stages run and whether they ship do not
change the outputs, and ``phrasings`` and ``lag_tails`` are not CLI options (they must be the
defaults)."""
NOT_ON_CLI = ("phrasings", "lag_tails")


def _cli_value(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


def equivalent_command(*configs: Any) -> str:
    """The ``backtrack organism build`` command line that reproduces ``configs``: ``--out`` and
    every field that differs from its default. Recorded with the outputs instead of ``sys.argv``,
    so it is true however the build was launched (CLI, Python API, a script)."""
    args = ["backtrack", "organism", "build"]
    for config in configs:
        for field in dataclasses.fields(config):
            value = getattr(config, field.name)
            default = field.default
            if field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            if field.name == "out" or (field.name not in CLI_SKIPPED and value != default):
                flag = "--" + field.name.replace("_", "-")
                if isinstance(value, bool):
                    args.append(flag if value else "--no-" + flag[2:])
                else:
                    args += [flag, _cli_value(value)]
            elif field.name in NOT_ON_CLI and value != default:
                raise InputError(f"custom {field.name} cannot be given on the command line")
    return " ".join(shlex.quote(a) for a in args)


def build(
    config: BuildConfig,
    traces: TraceConfig,
    finetune_config: FinetuneConfig,
    eval_config: EvalConfig,
    sae_config: SaeConfig,
) -> Path:
    """Run the requested stages into ``config.out``; returns the build directory.

    Stages whose outputs exist for the same config are skipped (finetuning resumes from its last
    checkpoint); a stage asked to run with another config than it was built with is refused.
    """
    out = Path(config.out)
    if config.threads:
        torch.set_num_threads(config.threads)
    train, heldout = build_traces(out, traces, config.n_heldout)
    if "precheck" in config.stages:
        _precheck(out, heldout, finetune_config, eval_config)
    if "finetune" in config.stages:
        run_finetune(out, train, finetune_config)
    if "export" in config.stages:
        command = equivalent_command(config, traces, finetune_config, eval_config, sae_config)
        _export(out, traces, finetune_config, command=command, ship=config.ship)
    if "evaluate" in config.stages:
        _evaluate(out, heldout, eval_config)
    if "sae" in config.stages:
        from experiments.organism.sae_stage import run_sae_stage

        _check_or_write_config(out / "sae" / "config.json", sae_config, "sae")
        run_sae_stage(out, read_traces(train), sae_config, ship=config.ship)
    return out


def _precheck(
    out: Path, heldout: Path, finetune_config: FinetuneConfig, eval_config: EvalConfig
) -> None:
    """Probe the base model for "the step just stated is wrong" before finetuning
    (:mod:`experiments.organism.precheck`); ``precheck/results.json``."""
    from experiments.organism.precheck import run_precheck

    path = out / "precheck" / "results.json"
    record = {"model": finetune_config.base_model, "layer": eval_config.precheck_layer,
              "window": list(eval_config.precheck_window)}  # fmt: skip
    if path.is_file() and json.loads(path.read_text()).get("inputs") == record:
        return
    window = eval_config.precheck_window
    found = run_precheck(finetune_config.base_model, read_traces(heldout),
                         eval_config.precheck_layer, (window[0], window[1]))  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"inputs": record, **dataclasses.asdict(found)}, indent=2))
    best = max(found.offsets, key=lambda o: o.residual.mean)
    logger.info(
        "pre-check: the base model's probe tells wrong from right steps with AUROC %.2f over the "
        "window, best %.2f at offset %d (token baseline there %.2f)",
        found.window_residual.mean, best.residual.mean, best.offset, best.token.mean,
    )  # fmt: skip


def _evaluate(out: Path, heldout: Path, eval_config: EvalConfig) -> None:
    from experiments.organism.eval_stage import run_eval_stage

    _check_or_write_config(out / "eval" / "config.json", eval_config, "evaluate")
    if (out / "eval" / "results.json").is_file():
        logger.info("evaluation already in %s; delete it to rerun", out / "eval")
        return
    adapter = out / "adapter" if (out / "adapter").is_dir() else None
    run_eval_stage(out, read_traces(heldout), eval_config, adapter=adapter)


def _export(
    out: Path, traces: TraceConfig, finetune_config: FinetuneConfig, *, command: str, ship: bool
) -> None:
    from activation_store.models.smollm2 import ADAPTER_DIR
    from experiments.organism.export import export_adapter
    from experiments.organism.finetune import final_loss

    record = {
        "command": command,
        "traces": dataclasses.asdict(traces),
        "finetune": dataclasses.asdict(finetune_config),
        "final_loss": final_loss(out / "finetune" / "loss.jsonl"),
    }
    exported = export_adapter(out / "finetune", out / "adapter", record)
    if ship:
        export_adapter(out / "finetune", ADAPTER_DIR, record)
        logger.info("shipped the adapter from %s to %s", exported, ADAPTER_DIR)
