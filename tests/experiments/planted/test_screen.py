"""The latent screen's three figures on activations whose answer is known."""

from __future__ import annotations

import numpy as np

from experiments.planted.screen import describe, screen_latents


def _traces(n_traces: int = 8, length: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 20, size=n_traces * length)
    trace = np.repeat(np.arange(n_traces), length)
    boundary = tokens == 0
    return rng, tokens, trace, boundary


def test_a_persistent_concept_and_a_token_feature_are_told_apart() -> None:
    rng, tokens, trace, boundary = _traces()
    n = len(tokens)
    persistent = np.zeros(n, dtype=bool)
    for start in range(0, n, 60):  # one run of 15 tokens per trace, at a random place
        at = start + int(rng.integers(0, 45))
        persistent[at : at + 15] = True
    token_bound = tokens == 7
    always = np.ones(n, dtype=bool)
    s = screen_latents(np.stack([persistent, token_bound, always], axis=1), tokens, trace, boundary)
    assert s.mean_run[0] == 15.0
    assert s.mean_run[1] < 1.5  # token 7 rarely repeats
    assert s.token_auroc[1] == 1.0  # its activity is its token's identity
    assert 0.3 < s.token_auroc[0] < 0.7  # the concept's is not
    assert np.isnan(s.token_auroc[2])  # one class: no AUROC
    assert s.share[2] == 1.0 and 0.0 <= s.share[0] <= 1.0
    assert s.meets()["run"].tolist() == [0, 2]


def test_runs_end_at_a_trace_boundary() -> None:
    _, tokens, trace, boundary = _traces(n_traces=2, length=10)
    active = np.ones((20, 1), dtype=bool)
    s = screen_latents(active, tokens, trace, boundary)
    assert s.mean_run[0] == 10.0  # two runs of 10, not one of 20
    assert any("longest runs: 0: " in line for line in describe(s))
