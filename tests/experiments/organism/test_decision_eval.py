"""Decision points of fixed traces: opener tokens, forced prefixes, teacher-forced P(opener), and
the base-model pre-check, on the tiny Llama (random weights: figures near chance, code paths real)."""

from __future__ import annotations

import numpy as np
import pytest

from activation_store.models import ModelConfig, load_hf_model, tiny_tokenizer
from experiments.organism.chat import decision_tokens, reasoner_tokenizer
from experiments.organism.config import EvalConfig
from experiments.organism.decision_eval import (
    auroc_estimate,
    decision_figures,
    forced_points,
    teacher_forced,
    trace_opener_ids,
)
from experiments.organism.families import make_problems
from experiments.organism.precheck import OFFSETS, collect, run_precheck
from experiments.organism.traces import TraceConfig, make_traces

TRACES = make_traces(make_problems(24, seed=1), TraceConfig(n_traces=24, trace_seed=1))


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return reasoner_tokenizer(tiny_tokenizer())


def test_openers_start_backtracks_and_nothing_else(tokenizer) -> None:  # type: ignore[no-untyped-def]
    openers = set(trace_opener_ids(tokenizer, TRACES))
    assert openers
    for trace in TRACES:
        example, points = decision_tokens(tokenizer, trace)
        for i, wrong in points:
            if not wrong:
                assert example.input_ids[i] not in openers
    with pytest.raises(ValueError, match="no backtracking sentence"):
        trace_opener_ids(
            tokenizer, make_traces(make_problems(3, seed=0), TraceConfig(error_rate=0.0))
        )


def test_forced_prefixes_end_right_before_a_decision(tokenizer) -> None:  # type: ignore[no-untyped-def]
    points = forced_points(tokenizer, TRACES, seed=0)
    assert sum(w for _, w in points) == sum(bool(t.errors) for t in TRACES)
    for trace in TRACES:
        example, _ = decision_tokens(tokenizer, trace)
        mine = [(ids, w) for ids, w in points if ids == example.input_ids[: len(ids)]]
        for ids, wrong in mine:
            text = tokenizer.decode(ids[example.n_prompt :])
            nxt = tokenizer.decode(example.input_ids[len(ids) : len(ids) + 1])
            assert text.endswith("\n")
            if wrong:  # the prefix ends with the wrong step, and the backtrack would follow
                assert text.rstrip("\n").endswith(trace.errors[0].text)
                assert trace.backtracks[0].text.startswith(nxt.strip())
            else:  # no error before a right step's decision point
                assert all(e.text not in text for e in trace.errors)


def test_teacher_forced_probabilities_are_probabilities(tokenizer) -> None:  # type: ignore[no-untyped-def]
    model, _ = load_hf_model(ModelConfig(model="tiny-llama"))
    openers = trace_opener_ids(tokenizer, TRACES)
    p, wrong = teacher_forced(model, tokenizer, TRACES, openers)
    n_points = sum(len(decision_tokens(tokenizer, t)[1]) for t in TRACES)
    assert len(p) == len(wrong) == n_points and wrong.sum() == sum(len(t.errors) for t in TRACES)
    assert ((p > 0) & (p < 1)).all()
    figures = decision_figures("tiny-llama", TRACES, EvalConfig(eval_batch_size=8))
    assert figures.n_after_wrong == wrong.sum() and figures.n_after_right == (~wrong).sum()
    assert 0 <= figures.sampled_after_wrong.mean <= 1 and figures.auroc.n == len(p)


def test_auroc_estimate_separates_and_ties() -> None:
    y = np.array([True] * 20 + [False] * 20)
    perfect = auroc_estimate(np.r_[np.ones(20), np.zeros(20)], y)
    assert perfect.mean == 1.0 and perfect.lo > 0.99
    tied = auroc_estimate(np.zeros(40), y)
    assert tied.mean == 0.5


def test_precheck_reads_a_planted_wrongness_signal(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """On activations where wrong steps carry a known offset, the residual probe finds it and the
    token baseline (same tokens in both classes at the tail) stays near chance."""
    from experiments.organism.precheck import cv_scores, one_hot

    model, _ = load_hf_model(ModelConfig(model="tiny-llama"))
    traces = make_traces(make_problems(40, seed=2), TraceConfig(n_traces=40, trace_seed=2))
    acts, ids, wrong, group = collect(model, tokenizer, traces, layer=1)
    assert acts.shape[:2] == (len(wrong), len(OFFSETS)) and wrong.any() and (~wrong).any()
    rng = np.random.default_rng(0)
    planted = acts[:, -1] + np.outer(wrong, rng.normal(size=acts.shape[-1])) * 3.0
    assert auroc_estimate(cv_scores(planted, wrong, group), wrong).mean > 0.9
    assert auroc_estimate(cv_scores(one_hot(ids[:, -1]), wrong, group), wrong).mean < 0.7
    result = run_precheck("tiny-llama", traces, 1, (-12, -8))
    assert result.hook == "blocks.1.hook_resid_post" and len(result.offsets) == len(OFFSETS)
    assert result.n_wrong == wrong.sum()
