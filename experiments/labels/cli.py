"""``backtrack label`` (label traces, optionally into a store) and ``backtrack agreement``."""

from __future__ import annotations

import argparse
from typing import cast

from activation_store.core.configs import add_config_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from experiments.labels.judge_config import JudgeConfig
    from experiments.labels.keyword import KeywordConfig

    label = subparsers.add_parser(
        "label",
        help="label the sentences of traces (keyword lexicon or LLM judge), optionally into a store",
        description=(
            "Split each trace's thinking text into sentences, label them with the keyword "
            "labeller or an LLM judge, and write the labels to --out (JSONL). With --store, also "
            "write per-token labels (labels/backtracking_start, labels/category, labels/thinking) "
            "into the HDF5 store cached from the same traces."
        ),
    )
    label.add_argument("--traces", required=True, help="traces JSONL from `backtrack traces`")
    label.add_argument("--labeller", choices=("keyword", "judge"), default="keyword")
    label.add_argument("--out", required=True, help="sentence labels JSONL to write")
    label.add_argument("--store", default=None, help="HDF5 store to write token labels into")
    label.add_argument(
        "--label-suffix",
        default="",
        help="appended to the store label names, e.g. _judge to keep both labellers' labels",
    )
    label.add_argument("--overwrite-labels", action="store_true", help="replace existing labels")
    label.add_argument(
        "--agreement-with",
        default=None,
        help="another labeller's labels JSONL: print Cohen's kappa and the confusion matrix",
    )
    add_config_arguments(
        cast(argparse.ArgumentParser, label.add_argument_group("keyword labeller")), KeywordConfig
    )
    add_config_arguments(
        cast(argparse.ArgumentParser, label.add_argument_group("LLM judge (--labeller judge)")),
        JudgeConfig,
    )
    label.set_defaults(handler=_label)

    agree = subparsers.add_parser(
        "agreement", help="Cohen's kappa and confusion matrix of two labels files"
    )
    agree.add_argument("a", help="labels JSONL (rows)")
    agree.add_argument("b", help="labels JSONL (columns)")
    agree.add_argument(
        "--categories",
        action="store_true",
        help="compare full categories instead of backtracking vs not",
    )
    agree.add_argument("--json", default=None, help="also write the report as JSON here")
    agree.set_defaults(handler=_agreement)


def _label(args: argparse.Namespace) -> int:
    from experiments.labels.run import LabelCommand, run_label_command

    result = run_label_command(
        LabelCommand(
            traces=args.traces,
            labeller=args.labeller,
            out=args.out,
            store=args.store,
            label_suffix=args.label_suffix,
            overwrite_labels=args.overwrite_labels,
            agreement_with=args.agreement_with,
        ),
        args,
    )
    for line in result.lines:
        print(line)
    return 0


def _agreement(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from experiments.labels.interrater import agreement
    from experiments.labels.result import read_labels

    report = agreement(read_labels(args.a), read_labels(args.b), binary=not args.categories)
    print(report.format())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(), indent=2))
    return 0
