from __future__ import annotations

import pytest

from experiments.prompts import Step, propagate_error, solve, step


def test_solver_ops() -> None:
    assert solve("add", (7, 8, 1)) == 16
    assert solve("carry", (15,)) == 1
    assert solve("join_tens", (8, 13)) == 83
    assert solve("parity", (12,)) == "even"
    assert solve("fraction", (9, 15)) == "3/5"
    assert solve("count", ("strawberry", "r")) == 3
    assert solve("and", ("true", "false")) == "false"
    assert solve("yesno", ("true",)) == "yes"
    with pytest.raises(KeyError, match="unknown step op 'pow'"):
        solve("pow", (2, 3))
    with pytest.raises(ValueError, match="not divisible"):
        solve("div", (7, 2))


def test_a_step_renders_any_value_and_the_solver_checks_it() -> None:
    s = step("add", (7, 8), "Add the ones: {0} + {1} = {value}.")
    assert s.value == 15 and s.text == "Add the ones: 7 + 8 = 15."
    assert s.render(14) == "Add the ones: 7 + 8 = 14."
    assert s.is_correct() and not s.is_correct(14)
    assert Step.from_json(s.to_json()) == s


def test_refs_must_match_operands() -> None:
    with pytest.raises(ValueError, match="refs has 1 entries for 2 operands"):
        Step(op="add", operands=(1, 2), value=3, template="", refs=(0,))


def test_an_error_propagates_through_dependent_steps_only() -> None:
    s0 = step("add", (5, 8), "{0} + {1} = {value}.")
    s1 = step("carry", (13,), "carry {value}.", refs=(0,))
    s2 = step("add", (3, 1, 1), "{0} + {1} + {2} = {value}.", refs=(None, None, 1))
    s3 = step("join_tens", (5, 13), "So 35 + 18 = {value}.", refs=(2, 0))
    wrong = propagate_error((s0, s1, s2, s3), 0, 9)
    assert [w.value for w in wrong] == [9, 0, 4, 49]
    assert not wrong[0].is_correct() and all(w.is_correct() for w in wrong[1:])
    assert wrong[3].text == "So 35 + 18 = 49."
    assert propagate_error((s0, s1, s2, s3), 0, 13) == (s0, s1, s2, s3)


def test_a_step_that_cannot_take_the_error_gets_a_question_mark() -> None:
    s0 = step("sub", (6, 3), "{0} − {1} = {value}.")
    s1 = step("div", (12, 3), "{0} ÷ {1} = {value}.", refs=(None, 0))
    assert propagate_error((s0, s1), 0, 5)[1].value == "?"
