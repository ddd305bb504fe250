"""The ``backtrack`` command line.

Each package contributes its subcommands through a ``register(subparsers)`` function in its own
``cli.py``; heavy imports (torch, transformer_lens, sae_lens) happen inside the handlers, so
``backtrack --help`` stays fast. Errors a user can cause are printed as one line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from activation_store import cli as store_cli
from activation_store.core.errors import InputError, ToolkitError
from experiments.labels import cli as labels_cli
from experiments.organism import cli as organism_cli
from experiments.prompts import cli as prompts_cli
from experiments.report import cli as report_cli
from experiments.steering import cli as steering_cli
from experiments.study import cli as study_cli
from experiments.traces import cli as traces_cli
from probes import cli as probes_cli
from sae_analysis import cli as sae_cli

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

REGISTRARS: tuple[Register, ...] = (
    store_cli.register,
    probes_cli.register,
    prompts_cli.register,
    traces_cli.register,
    labels_cli.register,
    steering_cli.register,
    report_cli.register,
    sae_cli.register,
    organism_cli.register,
    study_cli.register,
)


OUR_PACKAGES = ("activation_store", "probes", "sae_analysis", "experiments")
"""Loggers whose INFO lines (progress) are shown by default; other libraries' start at WARNING."""
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def configure_logging(*, verbose: bool) -> None:
    """Our packages at INFO and everything else (transformers, TransformerLens, ...) at WARNING;
    with ``verbose`` everything at DEBUG."""
    logging.basicConfig(format=LOG_FORMAT)
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in OUR_PACKAGES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backtrack",
        description=(
            "Study backtracking in reasoning models: generate and label traces, cache activations "
            "into an HDF5 store, fit probes and directions, decompose them into SAE features, "
            "steer and ablate, and report."
        ),
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log everything at DEBUG level, other libraries' messages included (default: this "
        "toolkit's progress, and warnings and errors of every library)",
    )
    parser.add_argument(
        "--threads",
        dest="global_threads",
        type=int,
        default=None,
        help="CPU threads of torch and numpy/scikit-learn (default: the libraries' own); 1 is "
        "often fastest on a small machine that runs other work",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in REGISTRARS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.backtrack = main  # commands that run other commands (the study) get the CLI passed down
    configure_logging(verbose=args.verbose)
    try:
        if args.global_threads is not None:
            from activation_store.core.threads import set_threads

            if args.global_threads < 1:
                raise InputError(f"--threads {args.global_threads} must be ≥ 1")
            set_threads(args.global_threads)
        result = args.handler(args)
    except ToolkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: committed work is kept; rerun with --resume to continue", file=sys.stderr
        )
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
