"""`experiments.labels`: sentence labels of reasoning traces and their token labels in the store.

- ``segment(text, span) -> list[Sentence]`` — sentences with char spans.
- ``KeywordLabeller(KeywordConfig(lexicon, punctuated, case_sensitive))`` and
  ``JudgeLabeller(JudgeConfig(url, model, api_key_env, …))`` — both implement ``Labeller``
  (``label_many(requests) -> labels``); categories in ``CATEGORIES``.
- ``label_traces(traces, labeller) -> LabelRun(labels: list[TraceLabels], without_sentences)``;
  ``write_labels`` / ``read_labels`` (JSONL).
- ``token_labels(trace, sentences) -> TokenLabels(backtracking_start, thinking, category)``.
- ``plan_store_labels(store, traces)`` then ``write_store_labels(plan, labels, attrs=…)``.
- ``agreement(a, b) -> Agreement`` (Cohen's κ, confusion matrix), ``cohen_kappa``.
- CLI: ``backtrack label``, ``backtrack agreement``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from activation_store.core.lazy import lazy_exports

if TYPE_CHECKING:
    from experiments.labels.categories import CATEGORIES, CATEGORY_IDS, category_id
    from experiments.labels.interrater import Agreement, agreement, cohen_kappa
    from experiments.labels.judge import JudgeLabeller
    from experiments.labels.judge_config import JudgeConfig
    from experiments.labels.keyword import DEFAULT_LEXICON, KeywordConfig, KeywordLabeller
    from experiments.labels.labeller import Labeller, LabelRequest
    from experiments.labels.pipeline import LabelRun, label_traces, trace_sentences
    from experiments.labels.result import LabelledSentence, TraceLabels, read_labels, write_labels
    from experiments.labels.segmentation import Sentence, segment
    from experiments.labels.store_labels import StorePlan, plan_store_labels, write_store_labels
    from experiments.labels.token_mapping import TokenLabels, token_containing, token_labels

_LAZY = {
    "Agreement": "experiments.labels.interrater",
    "CATEGORIES": "experiments.labels.categories",
    "CATEGORY_IDS": "experiments.labels.categories",
    "DEFAULT_LEXICON": "experiments.labels.keyword",
    "JudgeConfig": "experiments.labels.judge_config",
    "JudgeLabeller": "experiments.labels.judge",
    "KeywordConfig": "experiments.labels.keyword",
    "KeywordLabeller": "experiments.labels.keyword",
    "LabelRequest": "experiments.labels.labeller",
    "LabelRun": "experiments.labels.pipeline",
    "LabelledSentence": "experiments.labels.result",
    "Labeller": "experiments.labels.labeller",
    "Sentence": "experiments.labels.segmentation",
    "StorePlan": "experiments.labels.store_labels",
    "TokenLabels": "experiments.labels.token_mapping",
    "TraceLabels": "experiments.labels.result",
    "agreement": "experiments.labels.interrater",
    "category_id": "experiments.labels.categories",
    "cohen_kappa": "experiments.labels.interrater",
    "label_traces": "experiments.labels.pipeline",
    "plan_store_labels": "experiments.labels.store_labels",
    "read_labels": "experiments.labels.result",
    "segment": "experiments.labels.segmentation",
    "token_containing": "experiments.labels.token_mapping",
    "token_labels": "experiments.labels.token_mapping",
    "trace_sentences": "experiments.labels.pipeline",
    "write_labels": "experiments.labels.result",
    "write_store_labels": "experiments.labels.store_labels",
}
"""Public name → its module; imported on first use (the store parts import torch and h5py)."""

__all__ = [
    "CATEGORIES",
    "CATEGORY_IDS",
    "DEFAULT_LEXICON",
    "Agreement",
    "JudgeConfig",
    "JudgeLabeller",
    "KeywordConfig",
    "KeywordLabeller",
    "LabelRequest",
    "LabelRun",
    "LabelledSentence",
    "Labeller",
    "Sentence",
    "StorePlan",
    "TokenLabels",
    "TraceLabels",
    "agreement",
    "category_id",
    "cohen_kappa",
    "label_traces",
    "plan_store_labels",
    "read_labels",
    "segment",
    "token_containing",
    "token_labels",
    "trace_sentences",
    "write_labels",
    "write_store_labels",
]


__getattr__ = lazy_exports(__name__, _LAZY, globals())
