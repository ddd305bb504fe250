"""The solver-based checker recovers the generator's ground truth, and judges free text."""

from __future__ import annotations

from experiments.organism.checker import (
    check_step,
    check_thinking,
    find_backtracks,
    split_sentences,
)
from experiments.organism.families import make_problems
from experiments.organism.scoring import extract_answer, figures, score_trace
from experiments.organism.traces import TraceConfig, make_traces


def test_checker_matches_ground_truth_on_synthetic_traces() -> None:
    traces = make_traces(make_problems(210, seed=4), TraceConfig(n_traces=210, trace_seed=4))
    for t in traces:
        checked = check_thinking(t.thinking, t.problem)
        assert sum(c.verdict == "wrong" for c in checked) == len(t.errors), t.completion
        assert sum(c.backtrack for c in checked) == len(t.backtracks)
        for b in find_backtracks(checked, t.problem):
            assert (b.previous, b.correction, b.same_value) == ("wrong", "correct", False)
    fig = figures([score_trace(t.problem, t.completion) for t in traces])
    assert fig.grounding is not None and fig.grounding.mean == 1.0
    assert fig.accuracy.mean == 1.0


def test_checker_matches_ground_truth_on_both_recipes() -> None:
    v5 = TraceConfig(n_traces=120, trace_seed=2, check_rate=1.0, lag_rate=0.0, error_rate=1.0)
    for config in (v5, TraceConfig(n_traces=120, trace_seed=2, catch_rate=0.5)):
        for t in make_traces(make_problems(120, seed=2), config):
            checked = check_thinking(t.thinking, t.problem)
            steps = [c for c in checked if not (c.backtrack or c.check)]
            n_steps = sum(s.kind in ("step", "error") for s in t.sentences)
            assert sum(c.verdict != "unparsed" for c in steps) == n_steps, t.completion
            assert sum(c.verdict == "wrong" for c in steps) >= len(t.errors), t.completion


def test_a_lag_clause_after_the_value_is_read_but_a_correction_is_not_a_step() -> None:
    problem = make_problems(1, seed=0)[0]  # "Compute 18 + 38."
    steps = problem.steps
    assert check_step("Ones: 8 + 8 = 16, so I note that down.", steps).verdict == "correct"
    assert check_step("Ones: 8 + 8 = 15, and I go on.", steps).verdict == "wrong"
    assert check_step("Ones: 8 + 8 = 16, not 15.", steps).verdict == "unparsed"
    assert check_step("Ones: 8 + 8 = 16, so 1. Then", steps).verdict == "unparsed"


def test_free_text_verdicts() -> None:
    problem = make_problems(1, seed=0)[0]  # "Compute 18 + 38."
    steps = problem.steps
    assert check_step("Ones: 8 + 8 = 16.", steps).verdict == "correct"
    assert check_step("Ones: 8 + 8 = 15.", steps).verdict == "wrong"
    assert check_step("ones: 9 + 8 = 17", steps).verdict == "correct"  # operands as written
    assert check_step("The sky is blue.", steps).verdict == "unparsed"


def test_empty_backtrack_is_flagged() -> None:
    problem = make_problems(1, seed=0)[0]
    text = "Ones: 8 + 8 = 16.\nWait, ones: 8 + 8 = 16, not 16.\nSo 18 + 38 = 56."
    (b,) = find_backtracks(check_thinking(text, problem), problem)
    assert (b.previous, b.same_value) == ("correct", True)
    score = score_trace(problem, text + "\n</think>\nThe answer is 56.")
    assert (score.after_correct, score.after_wrong, score.correct) == (1, 0, True)


def test_two_sentence_backtrack_reads_the_correction() -> None:
    problem = make_problems(3, seed=0)[2]  # count_odd
    parity = next(s for s in problem.steps if s.op == "parity")
    wrong = "odd" if parity.value == "even" else "even"
    text = f"{parity.render(wrong)}\nHmm, that's not right. {parity.render()[:-1]}, not {wrong}."
    (b,) = find_backtracks(check_thinking(text, problem), problem)
    assert (b.previous, b.correction) == ("wrong", "correct")


def test_sentence_split_and_answer_extraction() -> None:
    assert split_sentences("A is true. B is false.\nWait, no.") == [
        "A is true.",
        "B is false.",
        "Wait, no.",
    ]
    assert extract_answer("x = 3\n</think>\nThe answer is 42.") == 42
    assert extract_answer("The answer is yes") == "yes"
    assert extract_answer("so 7 then 9") == 9
    assert extract_answer("nothing here") is None


def test_a_template_showing_an_operand_twice_matches_the_same_text_twice() -> None:
    from experiments.organism.checker import template_regex

    pattern = template_regex("Double {0}: {0} + {0} = {value}.")
    assert pattern.fullmatch("Double 3: 3 + 3 = 6.")
    assert not pattern.fullmatch("Double 3: 3 + 4 = 6.")


def test_catch_rate_counts_the_models_own_wrong_steps_that_a_backtrack_follows() -> None:
    problem = make_problems(1, seed=0)[0]  # "Compute 18 + 38."
    caught_slip = "Ones: 8 + 8 = 15.\nWait, ones: 8 + 8 = 16, not 15.\n"
    missed_big = "Tens: 1 + 3 + 1 = 9.\nSo 18 + 38 = 96.\n"
    score = score_trace(problem, caught_slip + missed_big + "</think>\nThe answer is 96.")
    # three wrong steps: the slip (caught), the tens (+4) and the sum (+40), neither caught
    assert (score.n_wrong, score.caught, score.slips, score.slips_caught) == (3, 1, 1, 1)
    fig = figures([score])
    assert fig.catch_rate is not None and fig.catch_rate.mean == 1 / 3
    assert fig.slip_share == 1 / 3
    assert fig.slip_catch_rate is not None and fig.slip_catch_rate.mean == 1.0
    (b,) = find_backtracks(check_thinking(caught_slip, problem), problem)
    assert b.previous_index == 0


def test_synthetic_traces_catch_every_injected_error() -> None:
    traces = make_traces(make_problems(60, seed=1), TraceConfig(n_traces=60, trace_seed=1))
    fig = figures([score_trace(t.problem, t.completion) for t in traces])
    assert fig.catch_rate is not None and fig.catch_rate.mean == 1.0
    assert fig.slip_share is not None and 0.0 < fig.slip_share <= 1.0
