"""The capability check flags a direction that breaks the reasoner's answers, and only that."""

from __future__ import annotations

from experiments.study.capability import capability_check
from experiments.study.config import StudyConfig

UNSTEERED, GOOD, BAD = (
    "reasoner|none|unsteered|a=0",
    "reasoner|add|good|a=0.2",
    "reasoner|add|bad|a=0.2",
)
PROMPTS = [f"p{i}" for i in range(40)]


def _runs(answered: float = 1.0) -> dict[int, dict[str, dict[str, dict[str, float]]]]:
    """Two seeds: unsteered right on 60 % of prompts; 'good' the same; 'bad' never right."""
    runs = {}
    for seed in (0, 1):
        right = {p: float(i % 5 < 3) for i, p in enumerate(PROMPTS)}
        said = {p: float(i < answered * len(PROMPTS)) for i, p in enumerate(PROMPTS)}
        runs[seed] = {
            "answered_correctly": {
                UNSTEERED: {p: right[p] * said[p] for p in PROMPTS},
                GOOD: {p: right[p] * said[p] for p in PROMPTS},
                BAD: dict.fromkeys(PROMPTS, 0.0),
            },
            "answered": {UNSTEERED: said, GOOD: said, BAD: said},
        }
    return runs


def test_a_direction_that_breaks_answers_is_flagged_and_one_that_does_not_is_not() -> None:
    config = StudyConfig()
    bad = capability_check("bad", _runs(), {0: [BAD], 1: [BAD]}, UNSTEERED, config)
    good = capability_check("good", _runs(), {0: [GOOD], 1: [GOOD]}, UNSTEERED, config)
    assert (bad.verdict, bad.destroys_capability) == ("lost", True)
    assert bad.accuracy.diff < -0.5 and bad.accuracy.hi < 0
    assert (good.verdict, good.destroys_capability) == ("kept", False)
    assert good.accuracy_unsteered == good.accuracy_steered == 0.6


def test_too_few_answers_make_the_check_inconclusive() -> None:
    runs = _runs(answered=0.3)  # "never answered" must not read as "wrong"
    bad = capability_check("bad", runs, {0: [BAD], 1: [BAD]}, UNSTEERED, StudyConfig())
    assert bad.verdict == "inconclusive" and not bad.destroys_capability
    assert "steer_max_new_tokens" in bad.summary
    assert bad.answered_unsteered == 0.3
