"""Score generated traces: backtracking, grounding, correction and answer accuracy, with CIs.

Acceptance figures of the organism (issue #4), measured on held-out problems:

* **backtracking rate** — share of traces with ≥ 1 backtracking sentence (Wilson CI);
* **grounding** — share of backtracking sentences that follow a step the solver finds wrong
  (bootstrap CI over problems), against the **chance level**: the share of all parsed steps that
  are wrong (a model that backtracked at random steps would score that);
* **answer accuracy** — the stated answer equals the solver's (Wilson CI), compared between models
  problem by problem (paired bootstrap, sign-flip p-value);
* **catch rate** — share of the model's own wrong steps that a backtracking sentence follows,
  overall and for *slips* (a number off by 1 or 2, the size of most injected errors): whether a
  reasoner that catches injected errors also catches the ones it makes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from activation_store.core.stats import Estimate, bootstrap_mean, bootstrap_ratio, wilson_interval
from experiments.organism.checker import check_thinking, find_backtracks, parse_value
from experiments.organism.traces import THINK_END
from experiments.prompts.problem import Problem
from experiments.prompts.steps import Value

ANSWER_RE = re.compile(r"answer is\s*:?\s*(-?\d+|yes|no)\b", re.IGNORECASE)
LAST_VALUE_RE = re.compile(r"-?\d+|\byes\b|\bno\b", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class TraceScore:
    """What one generated trace did."""

    problem_id: str
    n_steps: int
    """Sentences matched to a solution step (correct or wrong)."""
    n_wrong: int
    """Of those, steps the solver finds wrong."""
    n_backtracks: int
    after_wrong: int
    """Backtracking sentences right after a wrong step."""
    after_correct: int
    """Backtracking sentences right after a correct step."""
    corrected_right: int
    """Backtracks whose "X, not Y" correction states the solver's value."""
    same_value: int
    """Backtracks that "correct" a step to the value it already had."""
    answer: Value | None
    correct: bool
    caught: int
    """Wrong steps that a backtracking sentence follows."""
    slips: int
    """Wrong steps whose number is off by 1 or 2 from the solver's."""
    slips_caught: int
    """Of those, the ones a backtracking sentence follows."""


def extract_answer(text: str) -> Value | None:
    """The stated answer: "answer is X" after ``</think>`` (else anywhere), else the last value.

    Lenient on purpose (a base model rarely follows the format), so the comparison favours the
    base model, not the reasoner.
    """
    tail = text.split(THINK_END, 1)[1] if THINK_END in text else text
    for region in (tail, text):
        matches = ANSWER_RE.findall(region)
        if matches:
            return parse_value(matches[-1])
    values = LAST_VALUE_RE.findall(tail)
    return parse_value(values[-1]) if values else None


def score_trace(problem: Problem, text: str) -> TraceScore:
    """Score one generated completion (everything after the ``<think>\\n`` prompt)."""
    thinking = text.split(THINK_END, 1)[0]
    sentences = check_thinking(thinking, problem)
    backtracks = find_backtracks(sentences, problem)
    answer = extract_answer(text)
    followed = {b.previous_index for b in backtracks}
    steps = [(i, s) for i, s in enumerate(sentences) if not (s.backtrack or s.check)]
    wrong = [i for i, s in steps if s.verdict == "wrong"]
    slips = [i for i in wrong if _is_slip(sentences[i].stated, sentences[i].expected)]
    return TraceScore(
        problem_id=problem.id,
        n_steps=sum(s.verdict != "unparsed" for _, s in steps),
        n_wrong=len(wrong),
        n_backtracks=len(backtracks),
        after_wrong=sum(b.previous == "wrong" for b in backtracks),
        after_correct=sum(b.previous == "correct" for b in backtracks),
        corrected_right=sum(b.correction == "correct" for b in backtracks),
        same_value=sum(b.same_value for b in backtracks),
        answer=answer,
        correct=answer is not None and answer == problem.answer,
        caught=sum(i in followed for i in wrong),
        slips=len(slips),
        slips_caught=sum(i in followed for i in slips),
    )


def _is_slip(stated: Value | None, expected: Value | None) -> bool:
    return isinstance(stated, int) and isinstance(expected, int) and 0 < abs(stated - expected) <= 2


@dataclass(frozen=True, kw_only=True)
class Figures:
    """A model's acceptance figures over a set of scored traces."""

    n_traces: int
    backtrack_rate: Estimate
    """Share of traces with at least one backtracking sentence."""
    backtracks_per_trace: float
    grounding: Estimate | None
    """Share of backtracks right after a wrong step (None: no backtracks)."""
    grounding_parsed: Estimate | None
    """The same among backtracks whose previous step was parsed (correct or wrong)."""
    chance: Estimate | None
    """Share of parsed steps that are wrong: grounding of backtracks placed at random steps."""
    correction_accuracy: Estimate | None
    """Share of backtracks whose correction states the right value."""
    same_value_share: float | None
    """Share of backtracks that "correct" a step to the value it already had."""
    accuracy: Estimate
    """Share of traces whose answer is right."""
    catch_rate: Estimate | None
    """Share of the model's own wrong steps that a backtracking sentence follows."""
    slip_share: float | None
    """Share of its wrong steps that are slips (off by 1 or 2)."""
    slip_catch_rate: Estimate | None
    """Share of its slips that a backtracking sentence follows."""


def figures(scores: Sequence[TraceScore], *, seed: int = 0) -> Figures:
    """Aggregate :class:`TraceScore` s into :class:`Figures` (CIs at 95 %)."""
    n = len(scores)
    col = lambda name: [int(getattr(s, name)) for s in scores]  # noqa: E731
    parsed_prev = [s.after_wrong + s.after_correct for s in scores]
    backtracks = col("n_backtracks")
    same = sum(col("same_value"))
    return Figures(
        n_traces=n,
        backtrack_rate=wilson_interval(sum(b > 0 for b in backtracks), n),
        backtracks_per_trace=float(np.mean(backtracks)) if n else 0.0,
        grounding=bootstrap_ratio(col("after_wrong"), backtracks, seed=seed),
        grounding_parsed=bootstrap_ratio(col("after_wrong"), parsed_prev, seed=seed),
        chance=bootstrap_ratio(col("n_wrong"), col("n_steps"), seed=seed),
        correction_accuracy=bootstrap_ratio(col("corrected_right"), backtracks, seed=seed),
        same_value_share=same / sum(backtracks) if sum(backtracks) else None,
        accuracy=wilson_interval(sum(col("correct")), n),
        catch_rate=bootstrap_ratio(col("caught"), col("n_wrong"), seed=seed),
        slip_share=sum(col("slips")) / sum(col("n_wrong")) if sum(col("n_wrong")) else None,
        slip_catch_rate=bootstrap_ratio(col("slips_caught"), col("slips"), seed=seed),
    )


def accuracy_gain(better: Sequence[TraceScore], worse: Sequence[TraceScore]) -> Estimate:
    """Mean paired difference in correctness (same problems, same order), bootstrap CI."""
    if [s.problem_id for s in better] != [s.problem_id for s in worse]:
        raise ValueError("accuracy_gain needs the scores of the same problems in the same order")
    return bootstrap_mean(
        [float(a.correct) - float(b.correct) for a, b in zip(better, worse, strict=True)]
    )
