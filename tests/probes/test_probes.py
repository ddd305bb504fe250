from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from activation_store.reader import ActivationStore
from probes.config import ProbeConfig
from probes.probe_data import build_probe_data
from probes.probe_run import run_probes
from probes.splits import TEST, TRAIN, split_groups
from tests.probes.helpers import HOOKS

FAST = {"n_bootstrap": 200, "max_negatives": 3000, "Cs": (0.01, 1.0)}


@pytest.fixture(scope="module")
def report(planted):
    """Uniform negatives: metrics refer to the population (AP against the true prevalence)."""
    cfg = ProbeConfig(models=("base",), offsets=(-2, -1, 0), negatives="uniform", **FAST)
    return run_probes(planted.path, cfg)


def _row(report, hook, offset):
    return next(r for r in report.results if r.hook == hook and r.offset == offset)


def test_probe_finds_the_planted_direction_and_controls_stay_at_chance(report):
    hit = _row(report, HOOKS[1], -1)
    assert hit.auroc > 0.97 and hit.auroc_lo > 0.9 and hit.auroc_lo <= hit.auroc <= hit.auroc_hi
    assert hit.dom_auroc > 0.97
    assert abs(hit.shuffled_auroc - 0.5) < 0.12 and 0 < hit.shuffled_auroc_sd < 0.2
    assert abs(hit.token_auroc - 0.5) < 0.12  # tokens are random: identity explains nothing
    assert hit.auroc_over_token > 0.3 and hit.auroc_over_token_lo > 0.2
    assert hit.ap > 10 * hit.prevalence
    assert hit.balanced_accuracy > 0.9
    for r in (_row(report, HOOKS[0], -1), _row(report, HOOKS[1], 0)):
        assert abs(r.auroc - 0.5) < 0.15  # no signal planted there


def test_results_cover_models_layers_offsets(report):
    assert {(r.hook, r.offset) for r in report.results} == {
        (h, o) for h in HOOKS for o in (-2, -1, 0)
    }
    assert report.passes == {"base": 1}
    assert report.reference == "labels/thinking"


def test_probe_auroc_equals_sklearn_on_the_same_split(planted):
    cfg = ProbeConfig(models=("base",), layers=("1",), offsets=(-1,), token_baseline=False, **FAST)
    res = run_probes(planted.path, cfg).results[0]
    with ActivationStore(planted.path) as store:
        data = build_probe_data(store, cfg)
    X = planted.acts[HOOKS[1]][data.rows].astype(np.float64)
    train = data.member(0, TRAIN)
    mu, sd = X[data.part == TRAIN].mean(0), X[data.part == TRAIN].std(0)
    y = data.positive[0]
    clf = LogisticRegression(C=res.C, class_weight="balanced", max_iter=1000, tol=1e-8)
    clf.fit((X[train] - mu) / sd, y[train])
    test = data.member(0, TEST)
    expected = roc_auc_score(y[test], clf.decision_function((X[test] - mu) / sd))
    assert res.auroc == pytest.approx(expected, abs=1e-4)


def test_torch_backend_matches_sklearn_auroc(planted, device):
    kw = {
        "models": ("base",),
        "layers": ("1",),
        "offsets": (-2, -1),
        "token_baseline": False,
        **FAST,
    }
    a = run_probes(planted.path, ProbeConfig(**kw)).results
    b = run_probes(planted.path, ProbeConfig(backend="torch", device=device, **kw)).results
    for ra, rb in zip(a, b, strict=True):
        assert abs(ra.auroc - rb.auroc) < 0.01


def test_memory_bound_splits_hooks_into_passes_with_identical_results(planted):
    kw = {
        "models": ("base",),
        "offsets": (-1,),
        "token_baseline": False,
        "n_shuffles": 0,
        **FAST,
    }
    one = run_probes(planted.path, ProbeConfig(**kw))
    two = run_probes(planted.path, ProbeConfig(max_memory_gb=1e-9, **kw))
    assert one.passes == {"base": 1} and two.passes == {"base": 2}
    assert [r.auroc for r in one.results] == [r.auroc for r in two.results]


def test_window_k_labels_tokens_within_the_next_k(planted):
    cfg = ProbeConfig(offsets=(-1,), k=3, **FAST)
    with ActivationStore(planted.path) as store:
        data = build_probe_data(store, cfg)
        seq = store.tokens.seq_index
    starts = np.flatnonzero(planted.starts)
    expected = set()
    for s in starts:
        for j in (-3, -2, -1):
            if seq[s + j] == seq[s] and planted.thinking[s + j]:
                expected.add(int(s + j))
    assert set(data.rows[data.positive[0]].tolist()) == expected


def test_split_is_by_trace_group_and_never_by_token():
    trace_ids = [f"p{i // 3}/s{i}" for i in range(30)]
    events = np.ones(30, dtype=int)
    split = split_groups(
        trace_ids, events, val_fraction=0.2, test_fraction=0.3, seed=0, group_regex="^(.*)/"
    )
    part = split.seq_part()
    for g in range(len(split.group_names)):
        assert len(set(part[split.seq_group == g])) == 1  # a prompt's traces stay together
    assert len(split.group_names) == 10
    assert set(part) == {0, 1, 2}
    assert abs((part == 2).mean() - 0.3) < 0.15


def test_evaluation_weights_restore_the_population(planted):
    cfg = ProbeConfig(offsets=(-1, 0), max_negatives=500, negatives="uniform")
    with ActivationStore(planted.path) as store:
        data = build_probe_data(store, cfg)
        seq_part = data.split.seq_part()[store.tokens.seq_index]
    ref_test = int((planted.thinking.astype(bool) & (seq_part == TEST)).sum())
    for o in range(2):
        w = data.eval_weights(o, TEST)
        assert w.sum() == pytest.approx(ref_test)  # positives + reweighted sample = population
        assert (w[data.positive[o][data.member(o, TEST)]] == 1).all()
