"""``backtrack decompose`` end to end: a tiny Llama store, an SAE trained on it by sae_lens, a
difference-of-means direction; plus one-line errors and byte-identical figures."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from activation_store.direction import Direction, load_direction, save_direction
from experiments.cli import main
from tests.sae_analysis.helpers import HOOK

TINY_HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory: pytest.TempPathFactory, device: str) -> dict[str, Path]:
    """Store (base = tiny-llama seed 0, reasoner = seed 1), labels, a trained SAE, a direction."""
    from activation_store import CacheConfig, TokenTable, cache_activations, write_label
    from activation_store.models import ModelConfig, load_model
    from activation_store.reader import ActivationStore
    from sae_analysis.train import TrainConfig, train_sae_on_store

    root = tmp_path_factory.mktemp("tiny_study")
    rng = np.random.default_rng(0)
    seqs = [rng.integers(3, 500, size=48).tolist() for _ in range(40)]
    tokens = TokenTable.from_sequences([f"t{i}" for i in range(40)], seqs)
    store = root / "store.h5"
    for name, seed in (("base", 0), ("reasoner", 1)):
        loaded = load_model(ModelConfig(model="tiny-llama", seed=seed, device=device))
        cfg = CacheConfig(hooks=(TINY_HOOK,), name=name, store_dtype="float32")
        cache_activations(loaded, tokens, store, cfg, progress=False)
    pos = tokens.positions
    write_label(store, "backtracking_start", np.isin(pos, (20, 40)).astype(np.uint8))
    write_label(store, "thinking", (pos >= 2).astype(np.uint8))
    config = TrainConfig(
        d_sae=128, steps=300, batch_size=128, lr=3e-3, l1_coefficient=0.3, device=device
    )
    train_sae_on_store(store, "base", TINY_HOOK, root / "sae", config)
    with ActivationStore(store) as opened:
        windows = opened.event_windows("backtracking_start", range(-12, -7), within="thinking")
        x = opened.read("base", TINY_HOOK, slice(None))
        mean_all = x[pos >= 2].mean(axis=0)
        vector = x[windows.rows.ravel()].mean(axis=0) - mean_all
    direction = Direction(
        name="base_L1_dom",
        vector=torch.from_numpy(vector),
        model="base",
        hook=TINY_HOOK,
        kind="diff_of_means",
    )
    save_direction(direction, root / "dirs")
    return {
        "store": store,
        "sae": root / "sae",
        "direction": root / "dirs" / "base_L1_dom.safetensors",
        "root": root,
    }


def _args(study: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "decompose",
        "--direction", str(study["direction"]),
        "--sae", str(study["sae"]),
        "--store", str(study["store"]),
        "--out", str(out),
        *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_decompose_end_to_end(tiny_study, tmp_path: Path, device: str, capsys) -> None:
    extra = (
        "--k-max",
        "8",
        "--compare-model",
        "reasoner",
        "--device",
        device,
        "--umap-sample",
        "100",
    )
    assert main(_args(tiny_study, tmp_path / "a", *extra)) == 0
    printed = capsys.readouterr().out
    assert "features explain" in printed and "unexplained" in printed
    out = tmp_path / "a"
    data = json.loads((out / "decomposition.json").read_text())
    assert data["preflight"]["passed"] and data["preflight"]["explained_variance"] > 0.8
    ev = data["explained_variance"]
    assert len(ev) == 8 and all(b >= a - 1e-9 for a, b in itertools.pairwise(ev))
    assert data["unexplained_share"] == pytest.approx(1 - ev[-1])
    assert data["compare"]["model"] == "reasoner" and data["compare_reconstruction"] is not None
    contexts = next(iter(data["contexts"].values()))
    assert contexts and all(
        isinstance(t, str) for t in contexts[0]["tokens"]
    )  # decoded by the tiny tokenizer
    for stem in ("explained_variance", "coefficients", "decoder_map"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.svg").stat().st_size > 0
    chosen = data["sparse"]["indices"]
    f = load_direction(out / "directions" / f"base_L1_dom-sae_f{chosen[0]}.safetensors")
    assert f.kind == "sae_feature" and f.provenance["feature_index"] == chosen[0]

    # the same run again: every figure byte-identical (UMAP seeded, SVG hash salt, no dates)
    assert main(_args(tiny_study, tmp_path / "b", *extra)) == 0
    for path in sorted(out.glob("*.png")) + sorted(out.glob("*.svg")):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (("--k-max", "1000"), "k_max=1000 exceeds the SAE's d_sae=128"),
        (("--model", "reasoner", "--refuse-below", "0.85", "--warn-below", "0.9"), "poorly"),
        (("--offsets=-8:-12",), "offset range"),
    ],
)
def test_bad_input_is_one_line_exit_2(tiny_study, tmp_path: Path, capsys, extra, match) -> None:
    assert main(_args(tiny_study, tmp_path / "x", *extra, "--no-umap")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert match in err


@pytest.mark.slow
def test_a_poor_fit_can_be_recorded_instead_of_refused(tiny_study, tmp_path: Path, capsys) -> None:
    """What a study asks for: the refusal is written to OUT/refused.json, exit 0, nothing else."""
    poor = ("--model", "reasoner", "--refuse-below", "0.85", "--warn-below", "0.9", "--no-umap")
    out = tmp_path / "rec"
    assert main(_args(tiny_study, out, *poor, "--on-poor-fit", "record")) == 0
    refused = json.loads((out / "refused.json").read_text())
    assert "poorly" in refused["refused"] and refused["sae"] == str(tiny_study["sae"])
    assert not (out / "decomposition.json").exists()
    assert "not analysed:" in capsys.readouterr().out


def test_sae_for_another_width_via_cli(tmp_path: Path, planted_store, capsys) -> None:
    from tests.sae_analysis.helpers import span_sae

    sae, _ = span_sae(d_in=48)
    sae.save_model(tmp_path / "sae48")
    d = Direction(name="d", vector=torch.ones(32), model="base", hook=HOOK, kind="x")
    save_direction(d, tmp_path / "dirs")
    args = [
        "decompose", "--direction", str(tmp_path / "dirs" / "d.safetensors"), "--sae", str(tmp_path / "sae48"),
        "--store", str(planted_store), "--out", str(tmp_path / "out"), "--k-max", "4",
    ]  # fmt: skip
    assert main(args) == 2
    assert "d_in 48 but model 'base' has d_model 32" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_planted_direction_in_trained_sae_is_recovered(tiny_study, seed: int) -> None:
    """A known sparse combination of a trained (coherent) decoder's rows: features and coefficients."""
    from sae_analysis.loading import load_sae
    from sae_analysis.methods.sparse import sparse_reconstruction

    W = load_sae(tiny_study["sae"]).sae.W_dec.detach()
    planted = np.random.default_rng(seed).choice(W.shape[0], size=4, replace=False).tolist()
    coefs = [2.0, -1.5, 1.0, 0.7]
    vector = sum(c * W[i] for c, i in zip(coefs, planted, strict=True))
    result = sparse_reconstruction(W, vector, k_max=8)
    assert result.stop_reason == "exact" and sorted(result.indices) == sorted(planted)
    got = dict(zip(result.indices, result.coefficients, strict=True))
    np.testing.assert_allclose([got[i] for i in planted], coefs, rtol=1e-4)
