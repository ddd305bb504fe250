"""All metrics of one generation, as a named, JSON-ready record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from experiments.generation.answers import THINK_END, opens_thinking, stated_answer
from experiments.steering.runs.metrics.answers import answer_correct, answered_correctly
from experiments.steering.runs.metrics.backtracking import BacktrackingCounts, backtracking_counts
from experiments.steering.runs.metrics.text import repetition_rate, word_counts

METRIC_MEANINGS: dict[str, str] = {
    "backtracking_sentences": "sentences opening with a backtracking phrase (keyword labeller)",
    "coherent_backtracking_sentences": "backtracking sentences that are neither ungrounded nor "
    "back-to-back repeats, counted as 0 in degenerate generations (so 'Wait Wait Wait' spam is not "
    "a success)",
    "ungrounded_backtracking_sentences": "backtracking sentences that 'correct' a value to itself "
    "('X, not X')",
    "repeated_backtracking_sentences": "backtracking sentences identical to the sentence before",
    "backtracking_after_right_step": "backtracking sentences right after a sentence whose stated "
    "arithmetic (a op b = c) is all correct: backtracks with no visible error to catch (sentences "
    "without arithmetic are neither right nor wrong here)",
    "right_steps": "sentences whose stated arithmetic is all correct and that another sentence "
    "follows: backtracking_after_right_step / right_steps is P(backtrack | no error)",
    "any_backtracking": "generation has at least one backtracking sentence",
    "wait_hmm_fraction": "share of generated words that are 'wait' or 'hmm'",
    "wait_count": "occurrences of the word 'wait'",
    "but_count": "occurrences of the word 'but'",
    "n_words": "words in the generated text",
    "n_generated_tokens": "tokens generated",
    "repetition_rate": "share of generated token 4-grams that repeat an earlier one",
    "degenerate": "repetition_rate above the run's threshold: the degenerate_quantile of the "
    "unsteered generations of the same model (the summary's calibration), or max_repetition",
    "perplexity": "perplexity of the generated tokens under the unsteered model",
    "correct": "final answer (or, failing a stated one, the last number) equals the prompt's "
    "computed answer (prompts with answers only)",
    "answered": "states a final answer ('answer is X' or \\boxed{X}; after '</think>' when the "
    "prompt left the model thinking): a generation cut off before it has not answered",
    "answered_correctly": "states a final answer and it is the prompt's computed answer (prompts "
    "with answers only): the capability check's accuracy, with no last-number guess",
}
"""What each metric means, for result files and the report."""


@dataclass(frozen=True, kw_only=True)
class GenerationMetrics:
    """Metrics of one generation (see :data:`METRIC_MEANINGS`)."""

    backtracking_sentences: int
    coherent_backtracking_sentences: int
    ungrounded_backtracking_sentences: int
    repeated_backtracking_sentences: int
    backtracking_after_right_step: int
    right_steps: int
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
    answered: bool
    answered_correctly: bool | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def measure(
    text: str,
    generated_ids: Sequence[int],
    *,
    answer: int | str | None,
    perplexity: float | None,
    max_repetition: float,
    context: str = "",
    thinking: bool | None = None,
) -> GenerationMetrics:
    """Every metric of one generation. ``perplexity`` comes from the unsteered model (or None);
    ``context`` is the prompt's end (a sentence it leaves open is no sentence of the generation;
    a ``<think>`` it leaves open means the answer must follow ``</think>``). Backtracking and word
    counts read the thinking text: a generation that goes on to its answer line is measured up to
    its ``</think>``, as one stopped there. ``thinking``: whether the prompt left the model
    thinking (None: read off ``context``; pass it when special tokens were dropped from it)."""
    thinking_text = text.split(THINK_END, 1)[0]
    if thinking is None:
        thinking = opens_thinking(context)
    words = word_counts(thinking_text)
    counts = backtracking_counts(thinking_text, context=context)
    repetition = repetition_rate(list(generated_ids))
    degenerate = repetition > max_repetition
    return GenerationMetrics(
        backtracking_sentences=counts.total,
        coherent_backtracking_sentences=0 if degenerate else counts.coherent,
        ungrounded_backtracking_sentences=counts.ungrounded,
        repeated_backtracking_sentences=counts.repeated,
        **_no_error_counts(counts),
        any_backtracking=counts.total > 0,
        wait_hmm_fraction=words.wait_hmm_fraction,
        wait_count=words.wait,
        but_count=words.but,
        n_words=words.n_words,
        n_generated_tokens=len(generated_ids),
        repetition_rate=repetition,
        degenerate=degenerate,
        perplexity=perplexity,
        correct=answer_correct(text, answer),
        answered=stated_answer(text, thinking=thinking) is not None,
        answered_correctly=answered_correctly(text, answer, thinking=thinking),
    )


def completed(metrics: dict[str, Any], text: str) -> dict[str, Any]:
    """``metrics`` (a stored generation's) with the metrics added since it was written measured
    from its ``text``: ``backtracking_after_right_step`` and ``right_steps``. The prompt's end is
    not stored, so a sentence the prompt left open counts as the generation's first."""
    if "right_steps" in metrics:
        return metrics
    return {**metrics, **_no_error_counts(backtracking_counts(text.split(THINK_END, 1)[0]))}


def _no_error_counts(counts: BacktrackingCounts) -> dict[str, int]:
    """The metrics of P(backtrack | no error), by name."""
    return {"backtracking_after_right_step": counts.after_right, "right_steps": counts.right_steps}


def recalibrated(metrics: dict[str, Any], threshold: float) -> dict[str, Any]:
    """``metrics`` (a stored generation's) with ``degenerate`` and the coherent count decided at
    ``threshold`` of repetition instead of the threshold it was measured with."""
    degenerate = float(metrics["repetition_rate"]) > threshold
    coherent = (
        int(metrics["backtracking_sentences"])
        - int(metrics.get("ungrounded_backtracking_sentences", 0))
        - int(metrics.get("repeated_backtracking_sentences", 0))
    )
    return {
        **metrics,
        "degenerate": degenerate,
        "coherent_backtracking_sentences": 0 if degenerate else coherent,
    }
