"""Labelling traces: segment each thinking text into sentences, then label the sentences."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from activation_store.core.errors import InputError
from experiments.labels.labeller import Labeller, LabelRequest
from experiments.labels.result import LabelledSentence, TraceLabels
from experiments.labels.segmentation import Sentence, segment
from experiments.traces.record import Trace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelRun:
    """Labels of every trace, and which traces had nothing to label."""

    labels: list[TraceLabels]
    """One entry per trace, in input order (empty ``sentences`` for traces without any)."""
    without_sentences: tuple[str, ...]
    """Ids of traces whose thinking text is empty or has no sentence."""


def trace_sentences(trace: Trace) -> list[Sentence]:
    """Sentences of a trace's thinking text, with spans into ``trace.text``."""
    return segment(trace.text, trace.thinking_span)


def label_traces(traces: Sequence[Trace], labeller: Labeller) -> LabelRun:
    """Segment and label every trace.

    Traces with an empty thinking text or no sentence get no labels (and are listed); if no trace
    has a sentence at all, that is an :class:`InputError` (nothing to label).
    """
    sentences = [trace_sentences(t) for t in traces]
    empty = tuple(t.id for t, s in zip(traces, sentences, strict=True) if not s)
    if len(empty) == len(traces):
        raise InputError(
            f"none of the {len(traces)} traces has a sentence in its thinking text (e.g. "
            f"{empty[0]!r}); were they cut off at once, or generated without a thinking span?"
        )
    if empty:
        log.warning(
            "%d traces have no sentence in their thinking text and get no labels: %s",
            len(empty),
            ", ".join(empty[:5]) + (" …" if len(empty) > 5 else ""),
        )
    requests = [
        LabelRequest(t.prompt, tuple(s.text for s in ss))
        for t, ss in zip(traces, sentences, strict=True)
    ]
    labels = labeller.label_many(requests)
    config = labeller.config_dict()
    out = [
        TraceLabels(
            trace.id,
            labeller.name,
            tuple(LabelledSentence(s.start, s.end, lab) for s, lab in zip(ss, labs, strict=True)),
            config,
        )
        for trace, ss, labs in zip(traces, sentences, labels, strict=True)
    ]
    return LabelRun(out, empty)
