"""The study's four questions and the shape of an answer (:mod:`experiments.study.findings`)."""

from __future__ import annotations

from dataclasses import dataclass

from experiments.study.effects import Effect

QUESTIONS = {
    "q1": "Does the base-derived direction raise backtracking in the reasoner above norm-matched "
    "random directions and token-embedding directions?",
    "q2": "Does it leave the base model's backtracking unchanged?",
    "q3": "Do probes read out upcoming backtracking above chance at negative offsets, beyond a "
    "token-identity baseline?",
    "q4": "Does ablating k directions lower backtracking more than ablating one, and more than "
    "random k-subspaces?",
}


@dataclass(frozen=True)
class Answer:
    key: str
    question: str
    verdict: str
    """yes, no or inconclusive."""
    summary: str
    """One sentence with the numbers."""
    effects: list[Effect]
