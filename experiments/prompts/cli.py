"""``backtrack prompts``: what a prompt set holds, and exporting (part of) it as JSONL."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "prompts",
        help="summarize or export a prompt set (built-in or JSONL)",
        description=(
            "Count the prompts of SOURCE per category and split, show a few, or write the selected "
            "prompts (with answers and worked solutions) to --out as JSONL."
        ),
    )
    parser.add_argument(
        "source",
        nargs="?",
        default="reasoning-v1",
        help="built-in set name or a JSONL file (default: reasoning-v1)",
    )
    parser.add_argument("--split", choices=("derivation", "evaluation"), default=None)
    parser.add_argument(
        "--categories", default=None, help="comma-separated categories to keep (default: all)"
    )
    parser.add_argument("--show", type=int, default=0, help="print the first N prompts")
    parser.add_argument("--out", default=None, help="write the selected prompts here (JSONL)")
    parser.set_defaults(handler=_prompts)


def _prompts(args: argparse.Namespace) -> int:
    from collections import Counter

    from experiments.prompts import load_prompts, write_prompts

    categories = [c.strip() for c in args.categories.split(",")] if args.categories else None
    problems = load_prompts(args.source, split=args.split, categories=categories)
    counts = Counter((p.category or "-", p.split or "-") for p in problems)
    print(f"{len(problems)} prompts in {args.source}")
    for category in sorted({c for c, _ in counts}):
        per_split = ", ".join(f"{s} {n}" for (c, s), n in sorted(counts.items()) if c == category)
        print(f"  {category}: {per_split}")
    for p in problems[: args.show]:
        print(f"[{p.id}] {p.prompt}  → {p.answer if p.answer is not None else '?'}")
    if args.out:
        print(f"wrote {write_prompts(problems, args.out)}")
    return 0
