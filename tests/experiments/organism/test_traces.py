"""Synthetic traces: controlled error share, both values stated, exact ground-truth spans."""

from __future__ import annotations

import random
import re

import pytest

from experiments.organism.families import make_problems
from experiments.organism.traces import (
    TraceConfig,
    backtrack_sentence,
    make_traces,
    restate,
    trace_stats,
    wrong_value,
)
from experiments.prompts.steps import step

V5 = {"check_rate": 1.0, "lag_rate": 0.0}
"""The v5 recipe's structure: a check after every step, no lag clause."""


@pytest.fixture(scope="module")
def traces():  # type: ignore[no-untyped-def]
    return make_traces(
        make_problems(400, seed=0),
        TraceConfig(n_traces=400, trace_seed=0, error_rate=0.5, **V5),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def v6_traces():  # type: ignore[no-untyped-def]
    return make_traces(make_problems(300, seed=3), TraceConfig(n_traces=300))


def test_error_share_follows_config(traces) -> None:  # type: ignore[no-untyped-def]
    stats = trace_stats(traces)
    assert 0.43 < stats.with_backtrack < 0.57  # error_rate 0.5, binomial n=400
    always = TraceConfig(error_rate=1.0)
    assert trace_stats(make_traces(make_problems(50, seed=0), always)).with_backtrack == 1
    none = make_traces(make_problems(50, seed=0), TraceConfig(error_rate=0.0, check_rate=0.0))
    assert trace_stats(none).with_backtrack == 0
    assert all(s.kind in ("opener", "step") for t in none for s in t.sentences)


def test_spans_and_ground_truth(traces) -> None:  # type: ignore[no-untyped-def]
    for t in traces:
        for s in t.sentences:
            assert t.completion[s.start : s.end] == s.text
        kinds = [s.kind for s in t.sentences]
        for i, kind in enumerate(kinds):
            if kind == "error":  # checked, then caught at once (check_rate 1, catch_rate 1)
                assert kinds[i + 1 : i + 3] == ["check", "backtrack"]
                assert not t.problem.steps[t.sentences[i].step].is_correct(t.sentences[i].value)
            if kind == "check":
                assert kinds[i - 1] in ("step", "error")
                assert t.sentences[i].step == t.sentences[i - 1].step
                assert (
                    t.sentences[i].text
                    == "Check: "
                    + restate(
                        t.problem.steps[t.sentences[i].step], t.sentences[i].value, capital=False
                    )
                    + "."
                )
                assert t.problem.steps[t.sentences[i].step].is_correct(t.sentences[i].value)
            if kind == "backtrack":
                assert kinds[i - 2 : i] == ["error", "check"]
        assert t.answer == t.problem.answer
        assert t.completion.endswith(f"</think>\nThe answer is {t.answer}.")


def test_every_backtrack_states_both_values(traces) -> None:  # type: ignore[no-untyped-def]
    kinds = {"value": 0, "copy": 0}
    for t in traces:
        for err, bt in zip(t.errors, t.backtracks, strict=True):
            assert re.search(rf"\b{re.escape(str(bt.value))}\b", bt.text)
            assert bt.text.rstrip(".").endswith(f"not {bt.wrong}")
            assert re.search(rf"\b{re.escape(str(bt.wrong))}\b", err.text)  # the error states it
            kinds["value" if err.value == bt.wrong else "copy"] += 1
    assert kinds["value"] > 50 and kinds["copy"] > 30


def test_copy_errors_are_redone() -> None:
    cfg = TraceConfig(error_rate=1.0, error_kinds=("copy",), families=("word_problem",), **V5)  # type: ignore[arg-type]
    for t in make_traces(make_problems(40, seed=2, families=cfg.families), cfg):
        kinds = [s.kind for s in t.sentences]
        for i, kind in enumerate(kinds):
            if kind == "error" and t.problem.steps[t.sentences[i].step].op != "same":
                assert kinds[i + 3] == "step" and t.sentences[i + 3].step == t.sentences[i].step


def test_v6_traces_have_no_checks_a_lag_and_error_free_traces(v6_traces) -> None:  # type: ignore[no-untyped-def]
    stats = trace_stats(v6_traces)
    assert 0.62 < stats.with_backtrack < 0.78  # error_rate 0.7, binomial n=300
    tails = TraceConfig().lag_tails
    for t in v6_traces:
        kinds = [s.kind for s in t.sentences]
        assert "check" not in kinds
        for i, s in enumerate(t.sentences):
            assert t.completion[s.start : s.end] == s.text
            if s.kind in ("step", "error"):
                assert any(s.text.endswith(tail + ".") for tail in tails)
            if s.kind == "error":  # the backtrack follows on the next line, after the lag
                assert kinds[i + 1] == "backtrack"
        assert t.answer == t.problem.answer


def test_injected_span_is_exactly_what_differs_from_the_right_step(v6_traces) -> None:  # type: ignore[no-untyped-def]
    tails = TraceConfig().lag_tails
    seen = 0
    for t in v6_traces:
        for s in t.sentences:
            if s.kind != "error":
                assert s.injected is None
                continue
            tail = next(x for x in tails if s.text.endswith(x + "."))
            wrong = s.text[: -len(tail) - 1] + "."  # the error without its lag clause
            right = t.problem.steps[s.step].text
            lo, hi = s.injected
            keep = len(wrong) - hi
            assert 0 <= lo < hi < len(wrong)
            assert wrong[:lo] == right[:lo] and wrong[hi:] == right[len(right) - keep :]
            assert wrong[lo] != right[lo] and wrong[hi - 1] != right[len(right) - keep - 1]
            assert re.search(r"\d|tru|fals|odd|ev", wrong[lo:hi])
            seen += 1
    assert seen > 150


def test_backtrack_sentence_example() -> None:
    times = step("mul", (7, 8), "{0} × {1} = {value}.")
    assert backtrack_sentence(times, 54, "Wait, {fix}, not {wrong}.") == "Wait, 7 × 8 = 56, not 54."
    ones = step("add", (7, 8), "Ones: {0} + {1} = {value}.")
    assert (
        backtrack_sentence(ones, 14, "Hmm, no. {Fix}, not {wrong}.")
        == "Hmm, no. Ones: 7 + 8 = 15, not 14."
    )
    assert (
        backtrack_sentence(ones, 14, "Wait, {fix}, not {wrong}.")
        == "Wait, ones: 7 + 8 = 15, not 14."
    )


def test_wrong_values_are_wrong() -> None:
    rng = random.Random(0)
    for p in make_problems(140, seed=5):
        for s in p.steps:
            assert not s.is_correct(wrong_value(s, rng))


def test_uncaught_errors_propagate() -> None:
    cfg = TraceConfig(error_rate=1.0, catch_rate=0.0, n_traces=60)
    out = make_traces(make_problems(60, seed=0), cfg)
    assert all(not t.backtracks for t in out)
    assert sum(t.answer != t.problem.answer for t in out) > 20


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("error_rate", 1.5),
        ("max_errors", 0),
        ("phrasings", ("Wait, {fix}.",)),
        ("families", ("x",)),
    ],
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        TraceConfig(**{field: value})  # type: ignore[arg-type]
