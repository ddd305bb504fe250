"""Ablation controls end to end on tiny-llama: variance-matched random subspaces, the residual
share of every ablated span, ablation at every layer, and leaving position 0 alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from activation_store.core.configs import ConfigError
from activation_store.direction import load_direction
from experiments.steering.runs.runner import run_experiment
from experiments.steering.runs.subspaces import projected_variance
from probes.moments import store_moments

from ..helpers import ablation_config, write_inputs
from .test_subspaces import write_store


def test_variance_matched_ablation_at_every_layer_sparing_position_0(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path)
    rng = np.random.default_rng(0)
    acts = (rng.standard_normal((400, 64)) * np.exp(-np.arange(64) / 10) + 1.0).astype(np.float32)
    store = write_store(tmp_path / "store.h5", acts, key="tiny-llama")
    config = ablation_config(
        inputs,
        ks=(2,),
        single=False,
        n_random=2,
        random_kinds=("isotropic", "variance_matched"),
        store=str(store),
        hooks=("blocks.*.hook_resid_post",),
        positions="1:",
        max_new_tokens=3,
    )
    out = tmp_path / "ablate"
    summary = run_experiment(config, out, progress=False).summary
    cells = {c["group"]: c for c in summary["cells"]}
    assert {"dom0+dom1", "random2#0", "random2#1", "matched2#0", "matched2#1"} <= set(cells)

    # every matched subspace holds the span's variance; the isotropic ones do not come close
    moments = store_moments(store, "tiny-llama", "blocks.1.hook_resid_post")
    span = cells["dom0+dom1"]["residual_share"]["projected_variance"]
    for group in ("matched2#0", "matched2#1"):
        got = cells[group]["residual_share"]["projected_variance"]
        assert abs(got - span) <= 0.05 * span
        basis = [
            load_direction(f"matched2s{group[-1]}_{i}", directory=out / "directions")
            for i in range(2)
        ]
        q = np.stack([b.vector.numpy() for b in basis])
        assert projected_variance(q, moments.covariance) == pytest.approx(got, rel=1e-4)
    for group in ("random2#0", "random2#1"):
        assert abs(cells[group]["residual_share"]["projected_variance"] - span) > 0.05 * span
    for c in cells.values():
        if c["operation"] != "none":
            share = c["residual_share"]
            assert 0 <= share["mean_share"] <= 1 and 0 <= share["variance_share"] <= 1
    assert summary["residual_moments"]["n_tokens"] == moments.n_tokens

    rows = [r for r in summary["dose_response"] if r["metric"] == "backtracking_sentences"]
    assert rows[0]["random"]["n_subspaces"] == 2
    assert rows[0]["random_matched"]["n_subspaces"] == 2
    assert {v["group"] for v in rows[0]["vs_random_matched"]} == {"dom0+dom1"}

    # every layer, and every prompt position but the first
    generations = [
        json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()
    ]
    prompt_len = {g["prompt_id"]: g["prompt_len"] for g in generations}
    for line in (out / "interventions.jsonl").read_text().splitlines():
        record = json.loads(line)
        if not record["interventions"]:
            continue
        hooks = {iv["hook"] for iv in record["interventions"]}
        assert hooks == {f"blocks.{i}.hook_resid_post" for i in range(4)}
        expected = sum(prompt_len[p] - 1 for p in record["prompt_ids"])
        assert {iv["positions_changed"]["prompt"] for iv in record["interventions"]} == {expected}


def test_variance_matched_needs_a_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="point store at"):
        ablation_config(write_inputs(tmp_path), random_kinds=("variance_matched",))
