"""``backtrack study run|check|findings`` and ``backtrack demo``."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from activation_store.core.configs import add_config_arguments
from activation_store.core.errors import InputError

if TYPE_CHECKING:
    from experiments.study.config import StudyConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from experiments.study.config import BUILTIN

    study = subparsers.add_parser(
        "study",
        help="run the whole study (traces → store → directions, probes → SAE → steering → report)",
        description="A study is a TOML config (keys = StudyConfig fields; built-in: "
        f"{', '.join(BUILTIN)}) run as a sequence of ordinary backtrack commands, each printed "
        "before it runs. Rerun the same command to resume an interrupted study.",
    )
    sub = study.add_subparsers(dest="study_command", metavar="SUBCOMMAND", required=True)
    run = _config_parser(sub, "run", "run or resume a study", "Run or resume a study.", _run)
    run.add_argument("--out", required=True, help="study directory to create or resume")
    run.add_argument(
        "--dry-run", action="store_true", help="only check the config and estimate time and disk"
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="steps run at once, each as its own process: other seeds' steps and a seed's "
        "independent ones (probes beside directions; decision points, sweep and ablation beside "
        "each other); default: 1, in this process",
    )
    check = _config_parser(
        sub,
        "check",
        "validate a study config without loading weights (paths, shapes, SAE, disk, time)",
        "Validate a study config without loading weights: model and SAE paths, hidden sizes and "
        "layers, the SAE's hook, and estimated run time and disk use.",
        _check,
    )
    check.add_argument("--out", default=".", help="where the study would write (for free disk)")

    findings = sub.add_parser(
        "findings",
        help="answer the study's four questions over its seeds (findings/findings.json + figure)",
        description="Answer the four questions of the study from a (finished) study directory: "
        "steering vs random and token baselines, the base-model control, probes vs a "
        "token-identity baseline, and joint ablation vs single and random subspaces.",
    )
    findings.add_argument("study_dir", help="the study's --out directory")
    findings.set_defaults(handler=_findings)

    demo = subparsers.add_parser(
        "demo",
        help="the whole study on the embedded model organism, end to end (≤ 20 min; --quick ≤ 3)",
        description="Run the study on smollm2-135m (base) and smollm2-135m-reasoner: reasoner "
        "traces → keyword labels → one store with both models → directions, baselines, probes "
        "→ SAE decomposition → steering (reasoner and base control) → joint ablation → report. "
        "Resumable: rerun to continue.",
    )
    demo.add_argument("--quick", action="store_true", help="toy sizes, ≤ 3 minutes")
    demo.add_argument("--out", default=None, help="study directory (default: runs/demo[-quick])")
    demo.add_argument(
        "--dry-run", action="store_true", help="only check the config and estimate time and disk"
    )
    demo.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    demo.set_defaults(handler=_demo)


def _config_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    text: str,
    description: str,
    handler: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """A subcommand taking a study config and every StudyConfig field as an overriding option."""
    from experiments.study.config import BUILTIN, StudyConfig

    parser = sub.add_parser(name, help=text, description=description)
    parser.add_argument("config", help=f"TOML file or built-in config ({', '.join(BUILTIN)})")
    add_config_arguments(parser, StudyConfig)
    # Options not given on the command line must not override the TOML file.
    parser.set_defaults(**{f.name: None for f in dataclasses.fields(StudyConfig)})
    parser.set_defaults(handler=handler)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    from experiments.study.config import StudyConfig

    return {f.name: getattr(args, f.name) for f in dataclasses.fields(StudyConfig)}


def _run(args: argparse.Namespace) -> int:
    from experiments.study.config import load_study_config

    config = load_study_config(args.config, **_overrides(args))
    if args.jobs < 1:
        raise InputError(f"--jobs {args.jobs} must be ≥ 1")
    return _run_or_check(config, args, args.out, dry_run=args.dry_run, jobs=args.jobs)


def _run_or_check(
    config: StudyConfig, args: argparse.Namespace, out: str, *, dry_run: bool, jobs: int = 1
) -> int:
    from experiments.study.check import check_study
    from experiments.study.runner import in_process, run_study

    result = check_study(config, out=out, require_device=not dry_run)
    if dry_run or not result.ok:
        print("\n".join(result.lines()))
        return 0 if result.ok else 2
    # The steps are ordinary backtrack commands; the top-level CLI hands its own entry point down
    # (args.backtrack) instead of this package importing it back.
    run_study(config, out, runner=in_process(args.backtrack), jobs=jobs)
    return 0


def _check(args: argparse.Namespace) -> int:
    from experiments.study.config import load_study_config

    config = load_study_config(args.config, **_overrides(args))
    return _run_or_check(config, args, args.out, dry_run=True)


def _findings(args: argparse.Namespace) -> int:
    from experiments.study.findings import write_findings

    result = write_findings(args.study_dir)
    for line in result.lines():
        print(line)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from experiments.study.config import load_study_config

    name = "demo_quick" if args.quick else "demo"
    config = load_study_config(name, threads=args.threads)
    out = args.out or ("runs/demo-quick" if args.quick else "runs/demo")
    return _run_or_check(config, args, out, dry_run=args.dry_run)
