"""``backtrack directions``, ``backtrack compare-directions`` and ``backtrack probe``."""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from activation_store.core.configs import add_config_arguments, field_docs

# Offsets such as "-12:-8" or "-12,-10" look like options to argparse; let them be values.
_OFFSET_VALUE = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d+(:-?\d+|(,-?\d+)+)$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from probes.config import DirectionConfig, ProbeConfig

    directions = subparsers.add_parser(
        "directions",
        help="derive difference-of-means backtracking directions and baselines from a store",
        description=(
            "For each --models × --hooks: mean activation at --offsets around every labelled "
            "backtracking start minus the reference mean, saved as NAME.safetensors + NAME.json in "
            "--out, with baselines (mean activation, offset 0, norm-matched random, embedding and "
            "unembedding rows of --tokens) and a comparison (cosines, logit lens, max cosine with "
            "token rows). Abbreviations work: --model base --hook blocks.10.hook_resid_post."
        ),
    )
    directions.add_argument("store", help="the labelled .h5 store")
    directions.add_argument("--out", required=True, help="directory for the directions")
    _add(directions, DirectionConfig)
    directions.set_defaults(handler=_directions)

    compare = subparsers.add_parser(
        "compare-directions",
        help="cosines, logit lens and token similarity of saved directions",
    )
    compare.add_argument(
        "dirs", nargs="+", help="directories (or NAME.safetensors files) to compare"
    )
    compare.add_argument("--names", default=None, help="comma-separated direction names to keep")
    compare.add_argument(
        "--out", required=True, help="directory for comparison.json, cosines.csv/png"
    )
    compare.add_argument(
        "--lens-model",
        action="append",
        default=[],
        metavar="KEY=MODEL",
        help="model (spec or local dir) for directions of model KEY (default: their model_id)",
    )
    compare.add_argument("--device", default="cpu", help="device for loading model weights")
    compare.add_argument("--dtype", default="float32", help="dtype for loading model weights")
    compare.add_argument(
        "--flag-cosine", type=float, default=0.7, help="flag threshold (default 0.7)"
    )
    compare.set_defaults(handler=_compare)

    probe = subparsers.add_parser(
        "probe",
        help="linear probes for imminent backtracking per model × layer × offset",
        description=(
            "Logistic-regression probes (split by trace, C chosen on validation) with bootstrap "
            "CIs, a shuffled-label control, a token-identity baseline and the difference-of-means "
            "1-d probe, streamed from the store; writes results.csv/json and plots into --out."
        ),
    )
    probe.add_argument("store", help="the labelled .h5 store")
    probe.add_argument("--out", required=True, help="directory for results and plots")
    _add(probe, ProbeConfig)
    probe.set_defaults(handler=_probe)


def _add(parser: argparse.ArgumentParser, cls: type) -> None:
    parser._negative_number_matcher = _OFFSET_VALUE  # type: ignore[attr-defined]
    add_config_arguments(parser, cls, skip=("offsets",))
    default: Any = next(f.default for f in dataclasses.fields(cls) if f.name == "offsets")
    parser.add_argument(
        "--offsets",
        type=_offsets,
        default=default,
        help=f"{field_docs(cls)['offsets']} (default: {default[0]}:{default[-1]})",
    )


def _offsets(text: str) -> tuple[int, ...]:
    from activation_store.core.errors import InputError
    from activation_store.events import parse_offsets

    try:
        return parse_offsets(text)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _directions(args: argparse.Namespace) -> int:
    from activation_store.core.configs import config_from_args
    from probes.config import DirectionConfig
    from probes.direction_run import build_directions

    config = config_from_args(DirectionConfig, args)
    run = build_directions(args.store, config, args.out)
    print(f"saved {len(run.directions)} directions into {run.out}")
    for d in run.directions:
        if d.kind == "diff_of_means":
            counts = d.provenance["counts"]
            print(
                f"  {d.name}: norm {d.norm:.4g} ({d.norm / (d.mean_resid_norm or 1):.3f} × mean "
                f"resid norm {d.mean_resid_norm:.4g}); {counts['n_events']} events, "
                f"{counts['n_skipped']} skipped"
            )
    if run.comparison is not None:
        for s in run.comparison.similarities:
            if s.flagged and not s.direction.split("_")[-1].startswith(("embed-", "unembed-")):
                print(
                    f"  flagged: {s.direction} is nearly a token ({s.embed_token!r}/{s.unembed_token!r})"
                )
        print(f"comparison: {run.out / 'comparison.json'}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from activation_store.core.errors import InputError
    from activation_store.direction import load_direction, load_directions
    from activation_store.preflight import check_model_available, check_output_dir
    from probes.comparison_report import compare, model_space_lookup, write_comparison

    directions = []
    for ref in args.dirs:
        p = Path(ref)
        found = load_directions(p) if p.is_dir() else [load_direction(p)]
        if not found:
            raise InputError(
                f"no directions in {str(p)!r} (no NAME.safetensors with its NAME.json); give "
                "a directory written by `backtrack directions`, or a NAME.safetensors file"
            )
        directions += found
    if args.names:
        wanted = [n.strip() for n in args.names.split(",") if n.strip()]
        by_name = {d.name: d for d in directions}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise InputError(
                f"direction {missing[0]!r} not found; have: {', '.join(sorted(by_name))}"
            )
        directions = [by_name[n] for n in wanted]
    if not directions:
        raise InputError(f"no directions found in {', '.join(args.dirs)}")
    lens = {}
    for item in args.lens_model:
        key, sep, model = item.partition("=")
        if not sep:
            raise InputError(f"--lens-model {item!r} must be KEY=MODEL, e.g. base=/models/llama")
        check_model_available(model, f"--lens-model {key}")
        lens[key] = model
    check_output_dir(args.out)
    for d in directions:
        if d.model not in lens and d.provenance.get("model_id"):
            check_model_available(
                str(d.provenance["model_id"]), f"model_id of {d.name!r}; or pass --lens-model"
            )
    space_for = model_space_lookup(lens, device=args.device, dtype=args.dtype)
    path = write_comparison(compare(directions, space_for, flag_cosine=args.flag_cosine), args.out)
    print(f"compared {len(directions)} directions: {path}")
    return 0


def _probe(args: argparse.Namespace) -> int:
    from activation_store.core.configs import config_from_args
    from activation_store.preflight import check_output_dir
    from probes.config import ProbeConfig
    from probes.probe_report import write_report
    from probes.probe_run import run_probes

    config = config_from_args(ProbeConfig, args)
    check_output_dir(args.out)
    report = run_probes(args.store, config)
    paths = write_report(report, args.out)
    best = max(report.results, key=lambda r: r.auroc)
    print(
        f"{len(report.results)} probes in {report.seconds:.1f}s; best AUROC {best.auroc:.3f} "
        f"[{best.auroc_lo:.3f}, {best.auroc_hi:.3f}] ({best.model} {best.hook} offset {best.offset}; "
        f"token baseline {best.token_auroc:.3f}, shuffled {best.shuffled_auroc:.3f})"
    )
    print(f"wrote {', '.join(str(p) for p in paths[:2])} and {len(paths) - 2} figures")
    return 0
