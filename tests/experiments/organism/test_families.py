"""Problem families: solver-correct, distinct, seeded; held-out sets share no problem."""

from __future__ import annotations

import pytest

from experiments.organism.families import FAMILIES, make_problems, problem_key


def test_every_step_is_solver_correct_and_answers_match() -> None:
    problems = make_problems(70, seed=3)
    assert {p.category for p in problems} == set(FAMILIES)
    for p in problems:
        assert p.steps and all(s.is_correct() for s in p.steps), p.id
        assert p.answer is not None
        assert str(p.answer) in p.solution_text or p.category in ("logic",), p.id


def test_seeded_and_distinct() -> None:
    a, b = make_problems(50, seed=1), make_problems(50, seed=1)
    assert [p.to_json() for p in a] == [p.to_json() for p in b]
    assert len({problem_key(p) for p in a}) == 50
    assert [p.prompt for p in make_problems(50, seed=2)] != [p.prompt for p in a]


def test_heldout_excludes_training_problems() -> None:
    train = make_problems(300, seed=0)
    keys = frozenset(problem_key(p) for p in train)
    held = make_problems(60, seed=1, exclude=keys, prefix="heldout")
    assert not keys & {problem_key(p) for p in held}
    assert all(p.id.startswith("heldout-") for p in held)


def test_unknown_family_is_named() -> None:
    with pytest.raises(ValueError, match="nope"):
        make_problems(3, seed=0, families=("nope",))
