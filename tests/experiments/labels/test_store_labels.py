"""Token labels into a real store built from the traces' tokens; mismatches name the trace."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from activation_store import ActivationStore, TokenTable, create_store
from activation_store.core.errors import StoreError
from experiments.labels import (
    KeywordLabeller,
    label_traces,
    plan_store_labels,
    token_labels,
    write_store_labels,
)
from tests.experiments.labels.helpers import THINKING, make_trace

ATTRS = {"labeller": "keyword", "labeller_config": {"lexicon": ["Wait"]}}


@pytest.fixture
def traces():
    return [make_trace("a", THINKING), make_trace("b", "Hmm, 2 + 2 = 4. Yes."), make_trace("c", "")]


def _store(path: Path, traces) -> Path:
    table = TokenTable.from_sequences([t.id for t in traces], [list(t.token_ids) for t in traces])
    create_store(path, table, tokenizer_id="tiny", config={})
    return path


def test_labels_land_on_the_rows_of_their_trace(traces, tmp_path: Path) -> None:
    store = _store(tmp_path / "s.h5", traces[::-1])  # store order differs from file order
    run = label_traces(traces, KeywordLabeller())
    assert run.without_sentences == ("c",)
    result = write_store_labels(plan_store_labels(store, traces), run.labels, attrs=ATTRS)
    assert result.names == ("backtracking_start", "category", "thinking")
    with ActivationStore(store) as s:
        starts, cats, thinking = (
            s.label("backtracking_start"),
            s.label("category"),
            s.label("thinking"),
        )
        attrs = s.label_attrs("backtracking_start")
        offsets = s.tokens.offsets
    for k, trace in enumerate(traces[::-1]):
        expected = token_labels(
            trace, next(lab for lab in run.labels if lab.trace_id == trace.id).sentences
        )
        rows = slice(offsets[k], offsets[k + 1])
        np.testing.assert_array_equal(starts[rows], expected.backtracking_start)
        np.testing.assert_array_equal(cats[rows], expected.category)
        np.testing.assert_array_equal(thinking[rows], expected.thinking)
    assert (
        starts.sum() == 6 and attrs["labeller"] == "keyword" and "first token" in attrs["meaning"]
    )
    assert result.n_backtracking_starts == 6


def test_existing_labels_need_overwrite_or_a_suffix(traces, tmp_path: Path) -> None:
    store = _store(tmp_path / "s.h5", traces)
    run = label_traces(traces, KeywordLabeller())
    write_store_labels(plan_store_labels(store, traces), run.labels, attrs=ATTRS)
    with pytest.raises(StoreError, match="labels backtracking_start, category already exist"):
        plan_store_labels(store, traces)
    plan = plan_store_labels(store, traces, suffix="_judge")
    assert plan.names == ("backtracking_start_judge", "category_judge")  # thinking is unchanged
    write_store_labels(plan, run.labels, attrs=ATTRS)
    write_store_labels(
        plan_store_labels(store, traces, overwrite=True), run.labels, attrs=ATTRS, overwrite=True
    )
    with ActivationStore(store) as s:
        assert sorted(s.labels) == [
            "backtracking_start",
            "backtracking_start_judge",
            "category",
            "category_judge",
            "thinking",
        ]


def test_a_store_of_other_tokens_is_refused_naming_the_trace(traces, tmp_path: Path) -> None:
    other = [*traces[:1], dataclasses.replace(traces[1], token_ids=(*traces[1].token_ids[:-1], 7))]
    store = _store(tmp_path / "s.h5", other)
    with pytest.raises(StoreError, match=r"trace 'b': the store's token ids differ .* at position"):
        plan_store_labels(store, traces)
    with pytest.raises(StoreError, match=r"sequence 'a', which is not in the traces file"):
        plan_store_labels(store, traces[1:])
    run = label_traces(traces[1:], KeywordLabeller())
    good = _store(tmp_path / "good.h5", traces)
    with pytest.raises(StoreError, match=r"trace 'a' is in store .* but has no labels"):
        write_store_labels(plan_store_labels(good, traces), run.labels, attrs=ATTRS)
    with ActivationStore(good) as s:
        assert s.labels == []  # nothing was written
