from __future__ import annotations

import numpy as np
import pytest
import torch

from activation_store.events import event_windows
from activation_store.reader import ActivationStore
from probes.config import DirectionConfig
from probes.diff_of_means import derive_directions
from tests.probes.helpers import HOOKS, WINDOW

HOOK = HOOKS[1]


def _derive(path, **kw):
    cfg = DirectionConfig(models=("base",), hooks=(HOOK,), n_random=2, **kw)
    with ActivationStore(path) as store:
        return {d.name.split("_", 2)[-1]: d for d in derive_directions(store, cfg)}


def test_mean_difference_equals_numpy_one_liner(planted):
    dirs = _derive(planted.path)
    x = planted.acts[HOOK].astype(np.float64)
    thinking = planted.thinking.astype(bool)
    with ActivationStore(planted.path) as store:
        seq = store.tokens.seq_index
    win = event_windows(seq, planted.starts.astype(bool), WINDOW, within=thinking)
    expected = x[win.rows.ravel()].mean(0) - x[thinking].mean(0)
    np.testing.assert_allclose(dirs["dom"].vector.numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dirs["mean"].vector.numpy(), x[thinking].mean(0), atol=1e-6)
    zero = event_windows(seq, planted.starts.astype(bool), (0,), within=thinking)
    np.testing.assert_allclose(
        dirs["offset0"].vector.numpy(),
        x[zero.rows.ravel()].mean(0) - x[thinking].mean(0),
        atol=1e-6,
    )
    norms = np.linalg.norm(x[thinking], axis=1).mean()
    assert dirs["dom"].mean_resid_norm == pytest.approx(norms, rel=1e-9)


def test_planted_direction_is_recovered_and_early_windows_are_skipped(planted):
    dom = _derive(planted.path)["dom"]
    cos = float(dom.unit @ torch.from_numpy(planted.window_dir).float())
    assert cos > 0.99
    counts = dom.provenance["counts"]
    assert counts["n_skipped"] == 5  # the 5 events 3 tokens into the thinking span
    assert counts["n_events"] == int(planted.starts.sum()) - 5
    assert dom.provenance["offsets"] == list(WINDOW)
    assert dom.provenance["reference"] == "labels/thinking"
    assert dom.provenance["labeller"] == {"labeller": "planted"}
    assert dom.kind == "diff_of_means" and dom.layer == 1


def test_non_window_reference_and_predecessor_recipe(planted):
    x = planted.acts[HOOK].astype(np.float64)
    thinking = planted.thinking.astype(bool)
    with ActivationStore(planted.path) as store:
        win = store.event_windows("backtracking_start", WINDOW, within="thinking")
        pred = store.event_windows("backtracking_start", range(-1, 10), within="thinking")
    non_window = thinking.copy()
    non_window[win.rows.ravel()] = False
    dom = _derive(planted.path, reference="non_window")["dom"]
    expected = x[win.rows.ravel()].mean(0) - x[non_window].mean(0)
    np.testing.assert_allclose(dom.vector.numpy(), expected, atol=1e-6)
    overall = x[thinking].mean(0)
    raw = x[pred.rows.ravel()].mean(0) - overall
    expected = raw / np.linalg.norm(raw) * np.linalg.norm(overall)
    np.testing.assert_allclose(
        _derive(planted.path, recipe="predecessor")["dom"].vector.numpy(), expected, atol=1e-5
    )


def test_random_baselines_are_norm_matched_and_seeded(planted):
    dirs = _derive(planted.path)
    again = _derive(planted.path)
    for name in ("random0", "random1"):
        assert dirs[name].norm == pytest.approx(dirs["dom"].norm, rel=1e-5)
        assert torch.equal(dirs[name].vector, again[name].vector)
        assert dirs[name].kind == "random"
    assert abs(float(dirs["random0"].unit @ dirs["random1"].unit)) < 0.5


def test_both_models_and_all_hooks_by_default(planted):
    with ActivationStore(planted.path) as store:
        dirs = derive_directions(store, DirectionConfig(n_random=0))
    names = sorted(d.name for d in dirs if d.kind == "diff_of_means")
    assert names == ["base_L0_dom", "base_L1_dom", "reasoner_L0_dom", "reasoner_L1_dom"]


def test_suffix_lets_offset_sweeps_share_a_directory(planted):
    dirs = _derive(planted.path, offsets=(-3, -2), suffix="-w3")
    assert "dom-w3" in dirs and dirs["dom-w3"].provenance["offsets"] == [-3, -2]
