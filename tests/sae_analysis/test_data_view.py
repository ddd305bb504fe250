"""Data view on a store with a planted pre-backtracking feature, against numpy/sklearn oracles."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from activation_store.reader import ActivationStore
from sae_analysis.methods.data_view import data_view
from sae_analysis.subset import FeatureEncoder
from tests.sae_analysis.helpers import EVENT_POSITIONS, HOOK, OFFSETS, event_labels


def _oracle(store: ActivationStore, model: str, W_enc: np.ndarray, feature: int):
    x = store.read(model, HOOK, slice(None)).astype(np.float64)
    acts = np.maximum(x @ W_enc[:, feature], 0)
    _, thinking, window = event_labels(store.tokens)
    ref = (store.tokens.positions >= 1) & thinking.astype(bool)
    win = window & ref
    rest = ref & ~win
    return acts, win, rest


def test_planted_feature_stats_match_oracle(planted_store, span) -> None:
    sae, _ = span
    W_enc = sae.W_enc.detach().cpu().double().numpy()
    with ActivationStore(planted_store) as store:
        view = data_view(store, "base", HOOK, FeatureEncoder(sae, [0, 8, 3]), n_contexts=3)
        assert view.within == "thinking"
        assert view.n_events == store.tokens.n_sequences * len(EVENT_POSITIONS)
        assert view.n_skipped_events == 0
        for feature in (0, 8, 3):
            acts, win, rest = _oracle(store, "base", W_enc, feature)
            stats = view.stats(feature)
            assert stats.mean_window == pytest.approx(acts[win].mean(), rel=1e-5)
            assert stats.mean_elsewhere == pytest.approx(acts[rest].mean(), rel=1e-5)
            assert stats.frac_active_window == pytest.approx((acts[win] > 0).mean())
            expected_auc = roc_auc_score(
                np.r_[np.ones(win.sum()), np.zeros(rest.sum())], np.r_[acts[win], acts[rest]]
            )
            assert stats.auroc == pytest.approx(expected_auc, abs=1e-6)
        assert view.stats(0).auroc > 0.95  # the planted precursor
        assert view.stats(8).auroc < 0.5  # its negation fires less before backtracking
        assert view.n_window_rows == int(win.sum())


def test_top_contexts_are_peaks_with_events_marked(planted_store, span) -> None:
    sae, _ = span
    W_enc = sae.W_enc.detach().cpu().double().numpy()
    with ActivationStore(planted_store) as store:
        view = data_view(
            store,
            "base",
            HOOK,
            FeatureEncoder(sae, [0]),
            n_contexts=4,
            context_before=6,
            context_after=15,
        )
        acts, win, rest = _oracle(store, "base", W_enc, 0)
        contexts = view.contexts[0]
        assert len(contexts) == 4
        ref = win | rest
        assert contexts[0].row == int(np.argmax(np.where(ref, acts, -1)))
        assert [c.activation for c in contexts] == sorted(
            (c.activation for c in contexts), reverse=True
        )
        for c in contexts:
            assert c.activation == pytest.approx(acts[c.row], rel=1e-5)
            assert c.token_ids[c.focus] == int(store.tokens.ids[c.row])
            assert win[c.row]  # the planted feature peaks inside windows
            # the event 8–12 tokens later lies inside the 15-token right context
            assert c.events and all(
                c.token_ids[e] == store.tokens.ids[c.row - c.focus + e] for e in c.events
            )


def test_missing_within_label_falls_back_to_all_tokens(planted_store, span, caplog) -> None:
    sae, _ = span
    with ActivationStore(planted_store) as store, caplog.at_level(logging.WARNING):
        view = data_view(store, "base", HOOK, FeatureEncoder(sae, [0]), within="no_such_label")
        assert view.within is None
        assert view.n_reference_rows == int((store.tokens.positions >= 1).sum())
    assert "no_such_label" in caplog.text


def test_offsets_are_relative_to_events(planted_store, span) -> None:
    sae, _ = span
    with ActivationStore(planted_store) as store:
        at_event = data_view(store, "base", HOOK, FeatureEncoder(sae, [0]), offsets=(0,))
        before = data_view(store, "base", HOOK, FeatureEncoder(sae, [0]), offsets=OFFSETS)
    assert before.stats(0).auroc > 0.95
    assert at_event.stats(0).auroc < 0.7  # the planted boost is before the event, not on it
