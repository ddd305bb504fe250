"""The ``backtrack label`` workflow: read traces, check the store, label, write, compare."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from activation_store.core.configs import config_from_args
from activation_store.preflight import check_output_file
from experiments.labels.interrater import agreement
from experiments.labels.judge import JudgeLabeller
from experiments.labels.judge_config import JudgeConfig
from experiments.labels.keyword import KeywordConfig, KeywordLabeller
from experiments.labels.labeller import Labeller
from experiments.labels.pipeline import label_traces
from experiments.labels.result import read_labels, write_labels
from experiments.labels.store_labels import plan_store_labels, write_store_labels
from experiments.traces.record import read_traces


@dataclass(frozen=True, kw_only=True)
class LabelCommand:
    """The file arguments of ``backtrack label``."""

    traces: str
    labeller: Literal["keyword", "judge"]
    out: str
    store: str | None = None
    label_suffix: str = ""
    overwrite_labels: bool = False
    agreement_with: str | None = None


@dataclass(frozen=True)
class LabelCommandResult:
    lines: list[str]
    """Summary lines for the user."""


def make_labeller(kind: str, args: argparse.Namespace, *, progress: bool = True) -> Labeller:
    if kind == "keyword":
        return KeywordLabeller(config_from_args(KeywordConfig, args))
    return JudgeLabeller(config_from_args(JudgeConfig, args), progress=progress)


def run_label_command(cmd: LabelCommand, args: argparse.Namespace) -> LabelCommandResult:
    """Everything is checked (traces, store match, label names, other labels) before labelling,
    and nothing is written unless labelling succeeded."""
    traces = read_traces(cmd.traces)
    labeller = make_labeller(cmd.labeller, args)
    plan = (
        plan_store_labels(
            cmd.store, traces, suffix=cmd.label_suffix, overwrite=cmd.overwrite_labels
        )
        if cmd.store
        else None
    )
    other = read_labels(cmd.agreement_with) if cmd.agreement_with else None
    check_output_file(cmd.out)
    run = label_traces(traces, labeller)
    write_labels(cmd.out, run.labels)
    counts = Counter(s.label for t in run.labels for s in t.sentences)
    n_sentences = sum(counts.values())
    lines = [
        f"labelled {n_sentences} sentences of {len(traces)} traces with the {labeller.name} "
        f"labeller → {cmd.out}: {counts.get('backtracking', 0)} backtracking, "
        f"{counts.get(None, 0)} unlabelled ({len(run.without_sentences)} traces without sentences)"
    ]
    if plan is not None:
        attrs = {
            "labeller": labeller.name,
            "labeller_config": labeller.config_dict(),
            "traces": str(Path(cmd.traces).resolve()),
        }
        written = write_store_labels(plan, run.labels, attrs=attrs, overwrite=cmd.overwrite_labels)
        lines.append(
            f"wrote {', '.join('labels/' + n for n in written.names)} for {written.n_sequences} "
            f"sequences ({written.n_backtracking_starts} backtracking starts) into {cmd.store}"
        )
    if other is not None:
        lines.append(agreement(run.labels, other).format())
    return LabelCommandResult(lines)
