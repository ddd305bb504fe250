from __future__ import annotations

from collections import Counter
from pathlib import Path

from experiments.prompts import (
    CATEGORIES,
    PromptSetSpec,
    builtin_path,
    generate_problems,
    load_prompts,
)
from experiments.prompts.builtin import write_builtin


def test_the_shipped_set_is_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    fresh = write_builtin("reasoning-v1", tmp_path)
    assert fresh.read_bytes() == builtin_path("reasoning-v1").read_bytes()


def test_reasoning_v1_has_ten_categories_a_fixed_split_and_solved_problems() -> None:
    problems = load_prompts("reasoning-v1")
    assert len(problems) == 400 and len(CATEGORIES) == 10
    assert Counter(p.category for p in problems) == dict.fromkeys(CATEGORIES, 40)
    assert Counter((p.category, p.split) for p in problems)[("logic", "evaluation")] == 10
    assert len({p.id for p in problems}) == len({p.prompt for p in problems}) == 400
    for p in problems:
        assert p.steps and all(s.is_correct() for s in p.steps), p.id
        assert p.answer == p.steps[-1].value, p.id
    derivation = load_prompts("reasoning-v1", split="derivation")
    evaluation = load_prompts("reasoning-v1", split="evaluation")
    assert len(derivation) == 300 and len(evaluation) == 100
    assert not {p.id for p in derivation} & {p.id for p in evaluation}


def test_answers_are_right_on_spot_checks() -> None:
    by_id = {p.id: p for p in load_prompts("reasoning-v1")}
    for p in by_id.values():
        if p.category == "carry":
            a, b = (int(x) for x in p.prompt.removeprefix("What is ").rstrip("?").split(" + "))
            assert p.answer == a + b
        if p.category == "counting" and "letter" in p.prompt:
            letter, word = p.prompt.split("'")[1], p.prompt.split("'")[3]
            assert p.answer == word.count(letter)
        if p.category == "constraint":
            lo, d = (int(w) for w in p.prompt.rstrip("?").split() if w.isdigit())
            assert p.answer == next(n for n in range(lo + 1, lo + 20) if n % d == 0)


def test_generation_is_seeded() -> None:
    spec = PromptSetSpec(seed=1, per_category=5, n_evaluation=2)
    a, b = generate_problems(spec), generate_problems(spec)
    assert a == b and len(a) == 50
    assert [p.prompt for p in a] != [
        p.prompt for p in generate_problems(PromptSetSpec(seed=2, per_category=5, n_evaluation=2))
    ]
