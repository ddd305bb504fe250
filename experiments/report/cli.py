"""``backtrack report``: one HTML page from steering/ablation runs (and the probes/SAE outputs)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser(
        "report",
        help="build the HTML report of steering and ablation runs",
        description="Write OUT/index.html (self-contained: inline style, figures as PNG + SVG in "
        "OUT/figures) and OUT/report.json (every number) from run directories of backtrack steer.",
    )
    report.add_argument(
        "runs", nargs="*", metavar="RUN_DIR", help="run directories (optional with --findings)"
    )
    report.add_argument("--out", required=True, help="directory for the report")
    report.add_argument("--probes", default=None, help="output directory of the probes step")
    report.add_argument("--sae", default=None, help="output directory of the SAE step")
    report.add_argument(
        "--findings",
        default=None,
        help="findings directory of a study (findings.json + headline figure): the four answers",
    )
    report.add_argument(
        "--examples", type=int, default=3, help="example prompts per run (default: 3)"
    )
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from experiments.report.assemble import build_report

    result = build_report(
        args.runs,
        args.out,
        probes=args.probes,
        sae=args.sae,
        findings=args.findings,
        n_examples=args.examples,
    )
    print(
        f"report: {result.html} ({len(result.figures)} figure files; numbers in {result.numbers})"
    )
    return 0
