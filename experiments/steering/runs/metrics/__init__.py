"""Per-generation metrics of a steering run: backtracking, token counts, coherence, accuracy."""

from experiments.steering.runs.metrics.answers import answer_correct, extract_answer
from experiments.steering.runs.metrics.backtracking import (
    backtracking_sentences,
    count_backtracking_sentences,
    labeller_info,
)
from experiments.steering.runs.metrics.record import METRIC_MEANINGS, GenerationMetrics, measure
from experiments.steering.runs.metrics.text import repetition_rate, word_counts

__all__ = [
    "METRIC_MEANINGS",
    "GenerationMetrics",
    "answer_correct",
    "backtracking_sentences",
    "count_backtracking_sentences",
    "extract_answer",
    "labeller_info",
    "measure",
    "repetition_rate",
    "word_counts",
]
