from __future__ import annotations

import numpy as np
import torch

from experiments.generation.sampling import nucleus_probs, row_seeds


def _reference(logits: np.ndarray, temperature: float, top_p: float) -> np.ndarray:
    out = []
    for row in logits:
        p = np.exp((row - row.max()) / temperature)
        p /= p.sum()
        order = np.argsort(-p, kind="stable")
        keep, mass = [], 0.0
        for i in order:
            if mass >= top_p:
                break
            keep.append(i)
            mass += p[i]
        q = np.zeros_like(p)
        q[keep] = p[keep]
        out.append(q / q.sum())
    return np.array(out)


def test_nucleus_matches_a_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 40)).astype(np.float32) * 3
    for temperature, top_p in [(1.0, 1.0), (0.7, 0.9), (1.3, 0.5), (1.0, 1e-9)]:
        ours = nucleus_probs(torch.from_numpy(logits), temperature, top_p).numpy()
        np.testing.assert_allclose(ours, _reference(logits, temperature, top_p), atol=1e-5)


def test_row_seeds_depend_on_seed_content_and_occurrence() -> None:
    a = row_seeds(0, [[1, 2], [3], [1, 2]])
    assert a[0] != a[2]  # same prompt twice: different streams
    assert row_seeds(0, [[1, 2]]) == a[:1]  # a prompt's stream does not depend on the others
    assert row_seeds(1, [[1, 2]]) != a[:1]
