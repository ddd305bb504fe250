"""``backtrack organism build``: rebuild the embedded model organism (traces → finetune → SAE)."""

from __future__ import annotations

import argparse

from activation_store.core.configs import add_config_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from experiments.organism.config import BuildConfig, EvalConfig, FinetuneConfig, SaeConfig
    from experiments.organism.traces import TraceConfig

    organism = subparsers.add_parser(
        "organism", help="the embedded model organism (smollm2-135m → smollm2-135m-reasoner)"
    )
    sub = organism.add_subparsers(dest="organism_command", metavar="SUBCOMMAND", required=True)
    build = sub.add_parser(
        "build",
        help="rebuild traces → LoRA finetune → adapter → evaluation → SAEs (resumable)",
        description=(
            "Rebuild the model organism into --out: synthetic reasoning traces with ground-truth "
            "backtracking, a pre-check that probes the base model for 'this step is wrong', a "
            "LoRA finetune of smollm2-135m on them, the exported fp16 adapter, its "
            "evaluation against the base model, and TopK SAEs on the base model's residual stream. "
            "Rerun the same command to resume; a changed config is refused, naming the field. "
            "--ship copies the adapter and SAEs into the package (what smollm2-135m-reasoner loads)."
        ),
    )
    add_config_arguments(build, BuildConfig)
    add_config_arguments(build, TraceConfig, skip=("phrasings", "lag_tails"))
    add_config_arguments(build, FinetuneConfig)
    add_config_arguments(build, EvalConfig)
    add_config_arguments(build, SaeConfig)
    build.set_defaults(handler=_build)


def _build(args: argparse.Namespace) -> int:
    from activation_store.core.configs import config_from_args
    from activation_store.core.errors import InputError
    from experiments.organism.config import BuildConfig, EvalConfig, FinetuneConfig, SaeConfig
    from experiments.organism.stages import build
    from experiments.organism.traces import TraceConfig

    try:
        configs = [config_from_args(cls, args) for cls in (BuildConfig, TraceConfig, FinetuneConfig, EvalConfig, SaeConfig)]  # fmt: skip
    except ValueError as err:
        raise InputError(str(err)) from err
    out = build(*configs)  # type: ignore[arg-type]
    print(f"organism build in {out}")
    return 0
