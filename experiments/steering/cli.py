"""``backtrack steer sweep`` and ``backtrack steer ablate``: run steering and ablation experiments."""

from __future__ import annotations

import argparse
import dataclasses

from activation_store.core.configs import add_config_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from experiments.steering.runs.config import AblationConfig, SweepConfig
    from experiments.steering.runs.decisions import DecisionConfig

    steer = subparsers.add_parser(
        "steer",
        help="steering sweeps and ablation (joint mediation) experiments",
        description="Intervene on the residual stream while models generate, and measure "
        "backtracking. Settings come from a TOML file (--config; keys = option names) and/or "
        "options, which override it. Results go to one run directory per run.",
    )
    sub = steer.add_subparsers(dest="steer_command", metavar="SUBCOMMAND", required=True)
    for name, cls, text in (
        ("sweep", SweepConfig, "add each direction (and norm-matched baselines) at each α"),
        ("ablate", AblationConfig, "project out 1..k directions, each alone, and random subspaces"),
        (
            "decisions",
            DecisionConfig,
            "teacher-forced: log-odds of a backtracking opener at every decision point of held-out "
            "traces, steered vs unsteered, split by the preceding step (right/wrong), with KL",
        ),
    ):
        parser = sub.add_parser(name, help=text, description=text)
        parser.add_argument("--config", default=None, help="TOML file of settings")
        parser.add_argument("--out", required=True, help="run directory to create (or resume)")
        parser.add_argument(
            "--resume", action="store_true", help="continue the run in --out where it stopped"
        )
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
        add_config_arguments(parser, cls)
        # Options not given on the command line must not override the TOML file.
        parser.set_defaults(**{f.name: None for f in dataclasses.fields(cls)})
        parser.set_defaults(handler=_run, config_cls=cls)


def _run(args: argparse.Namespace) -> int:
    import dataclasses as dc

    from activation_store.core.configs import load_config
    from experiments.steering.runs.runner import run_experiment

    cls = args.config_cls
    overrides = {f.name: getattr(args, f.name) for f in dc.fields(cls)}
    config = load_config(cls, args.config, **overrides)
    if args.steer_command == "decisions":
        from experiments.steering.runs.decisions import run_decisions

        done = run_decisions(config, args.out, resume=args.resume)
        print(
            f"{done.n_new} trace × cell readings in {done.seconds:.0f} s; summary: {done.path / 'summary.json'}"
        )
        for row in done.summary["comparisons"][:20]:
            print(
                f"  {row['cell']}: {row['diff']:+.3f} [{row['lo']:+.3f}, {row['hi']:+.3f}] log-odds "
                f"vs random (percentile {row['percentile']:.2f}, n={row['n']})"
            )
        return 0
    result = run_experiment(config, args.out, resume=args.resume, progress=not args.no_progress)
    print(
        f"{result.n_new} new generations ({result.n_total} in all) in {result.seconds:.0f} s; "
        f"summary: {result.path / 'summary.json'}"
    )
    _print_headline(result.summary)
    return 0


def _print_headline(summary: dict[str, object]) -> None:
    comparisons = summary.get("comparisons", [])
    if not isinstance(comparisons, list):
        return
    rows = [
        c
        for c in comparisons
        if c.get("metric") == "coherent_backtracking_sentences"
        and c.get("against") in ("random", "unablated")
    ]
    for row in rows[:20]:
        print(
            f"  {row['cell']}: {row['diff']:+.3f} [{row['lo']:+.3f}, {row['hi']:+.3f}] "
            f"vs {row['against']} (p={row['p_value']:.3g}, n={row['n']})"
        )
