"""All metrics of one generation, as a named, JSON-ready record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from experiments.steering.runs.metrics.answers import answer_correct
from experiments.steering.runs.metrics.backtracking import count_backtracking_sentences
from experiments.steering.runs.metrics.text import repetition_rate, word_counts

METRIC_MEANINGS: dict[str, str] = {
    "backtracking_sentences": "sentences opening with a backtracking phrase (keyword labeller)",
    "coherent_backtracking_sentences": "backtracking sentences, counted as 0 in degenerate "
    "generations (so 'Wait Wait Wait' spam is not a success)",
    "any_backtracking": "generation has at least one backtracking sentence",
    "wait_hmm_fraction": "share of generated words that are 'wait' or 'hmm'",
    "wait_count": "occurrences of the word 'wait'",
    "but_count": "occurrences of the word 'but'",
    "n_words": "words in the generated text",
    "n_generated_tokens": "tokens generated",
    "repetition_rate": "share of generated token 4-grams that repeat an earlier one",
    "degenerate": "repetition_rate above the run's max_repetition",
    "perplexity": "perplexity of the generated tokens under the unsteered model",
    "correct": "final answer equals the prompt's computed answer (prompts with answers only)",
}
"""What each metric means, for result files and the report."""


@dataclass(frozen=True, kw_only=True)
class GenerationMetrics:
    """Metrics of one generation (see :data:`METRIC_MEANINGS`)."""

    backtracking_sentences: int
    coherent_backtracking_sentences: int
    any_backtracking: bool
    wait_hmm_fraction: float
    wait_count: int
    but_count: int
    n_words: int
    n_generated_tokens: int
    repetition_rate: float
    degenerate: bool
    perplexity: float | None
    correct: bool | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def measure(
    text: str,
    generated_ids: Sequence[int],
    *,
    answer: int | str | None,
    perplexity: float | None,
    max_repetition: float,
) -> GenerationMetrics:
    """Every metric of one generation. ``perplexity`` comes from the unsteered model (or None)."""
    words = word_counts(text)
    n_back = count_backtracking_sentences(text)
    repetition = repetition_rate(list(generated_ids))
    degenerate = repetition > max_repetition
    return GenerationMetrics(
        backtracking_sentences=n_back,
        coherent_backtracking_sentences=0 if degenerate else n_back,
        any_backtracking=n_back > 0,
        wait_hmm_fraction=words.wait_hmm_fraction,
        wait_count=words.wait,
        but_count=words.but,
        n_words=words.n_words,
        n_generated_tokens=len(generated_ids),
        repetition_rate=repetition,
        degenerate=degenerate,
        perplexity=perplexity,
        correct=answer_correct(text, answer),
    )
