from __future__ import annotations

import numpy as np
import pytest

from activation_store.core.errors import InputError
from activation_store.events import event_windows, parse_offsets
from activation_store.labels import write_label
from activation_store.reader import ActivationStore

from .helpers import HOOKS, build_store, synthetic_acts, token_table


def test_parse_offsets():
    assert parse_offsets("-12:-8") == (-12, -11, -10, -9, -8)
    assert parse_offsets("-3,0,2") == (-3, 0, 2)
    with pytest.raises(InputError):
        parse_offsets("-8:-12")
    with pytest.raises(InputError):
        parse_offsets("a:b")


def test_event_windows_match_a_loop():
    rng = np.random.default_rng(0)
    tokens = token_table(rng.integers(3, 30, size=40).tolist())
    seq = tokens.seq_index
    events = rng.random(tokens.n_tokens) < 0.1
    within = rng.random(tokens.n_tokens) < 0.9
    offsets = (-4, -3, -1)
    got = event_windows(seq, events, offsets, within=within)
    kept, skipped = [], 0
    for e in np.flatnonzero(events):
        rows = [e + o for o in offsets]
        ok = all(0 <= r < len(seq) and seq[r] == seq[e] and within[r] for r in rows)
        if ok:
            kept.append(rows)
        else:
            skipped += 1
    np.testing.assert_array_equal(got.rows, np.array(kept).reshape(-1, 3))
    assert got.n_skipped == skipped
    assert got.n_events + got.n_skipped == events.sum()


def test_store_event_windows_and_labels(tmp_path):
    tokens = token_table([10, 10, 10])
    path = build_store(tmp_path / "s.h5", tokens)
    events = np.zeros(tokens.n_tokens, dtype=bool)
    events[[2, 15, 27]] = True  # row 2: window -3..-1 crosses the start of sequence 0
    write_label(path, "backtracking_start", events, attrs={"labeller": "keyword"})
    with pytest.raises(Exception, match="already exists"):
        write_label(path, "backtracking_start", events)
    with ActivationStore(path) as store:
        win = store.event_windows("backtracking_start", (-3, -2, -1))
        assert win.n_skipped == 1
        np.testing.assert_array_equal(win.event_rows, [15, 27])
        acts = store.read("m", HOOKS[0], win.rows.ravel()).reshape(2, 3, -1)
        np.testing.assert_allclose(acts[1, 0], synthetic_acts(np.array([24]), 8, 0)[0], atol=4e-3)
        assert store.label_attrs("backtracking_start")["labeller"] == "keyword"
        with pytest.raises(Exception, match="labels present: backtracking_start"):
            store.label("nope")
