"""decompose() on the planted store: exact numbers, bad input, outputs, exported directions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from activation_store.core.errors import InputError
from activation_store.direction import Direction, load_direction, load_directions
from activation_store.reader import ActivationStore
from sae_analysis.config import DecomposeConfig
from sae_analysis.pipeline import decompose
from sae_analysis.run import run_decompose

CONFIG = DecomposeConfig(k_max=5, top_k=3, compare_model="reasoner", preflight_rows=400, umap=False)


def test_decompose_planted_direction(planted_store, loaded_span, direction) -> None:
    with ActivationStore(planted_store) as store:
        result = decompose(direction, loaded_span, store, CONFIG)
    sparse = result.sparse
    assert sparse.indices == (0, 1)  # 3·b0 + 0.5·b1; the 0.2·b20 part lies outside every row
    assert sparse.stop_reason == "orthogonal"
    assert sparse.coefficients == pytest.approx((3.0, 0.5), rel=1e-6)
    assert result.unexplained_share == pytest.approx(0.2**2 / (9 + 0.25 + 0.04), rel=1e-5)
    first = result.features[0]
    assert (first.index, first.omp_rank, first.reasons) == (0, 1, ("omp", "cos+"))
    assert first.contribution == pytest.approx(3 / direction.norm, rel=1e-5)
    assert first.stats is not None and first.stats.auroc > 0.95
    assert first.compare_stats is not None and abs(first.compare_stats.auroc - 0.5) < 0.1
    negated = result.feature(8)  # −b0: the most negative cosine
    assert negated.reasons == ("cos-",) and negated.cosine == pytest.approx(
        -3 / direction.norm, rel=1e-5
    )
    assert result.scale_source == "store"
    assert result.encoder.scale == pytest.approx(result.data.mean_norm)
    assert result.compare_reconstruction is not None
    assert result.compare_reconstruction["explained_variance"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"k_max": 25}, "k_max=25 exceeds the SAE's d_sae=24"),
        ({"top_k": 30}, "top_k=30 exceeds"),
        ({"model": "nope"}, "model 'nope'.*models present: base, reasoner"),
        ({"compare_model": "nope"}, "compare_model 'nope' is not in"),
    ],
)
def test_bad_config(planted_store, loaded_span, direction, change, match) -> None:
    config = DecomposeConfig(**{"umap": False, "k_max": 5, **change})
    with ActivationStore(planted_store) as store, pytest.raises(InputError, match=match) as err:
        decompose(direction, loaded_span, store, config)
    assert "\n" not in str(err.value)


def test_zero_direction(planted_store, loaded_span, direction) -> None:
    zero = Direction(name="z", vector=torch.zeros(32), model="base", hook=direction.hook, kind="x")
    with ActivationStore(planted_store) as store, pytest.raises(InputError, match="zero norm"):
        decompose(zero, loaded_span, store, CONFIG)


@pytest.mark.parametrize("text", ["k_max=0", "offsets=8:-8", "refuse_below=0.95"])
def test_config_validation(text: str) -> None:
    name, value = text.split("=")
    raw: dict[str, object] = {
        name: value if name == "offsets" else float(value) if "." in value else int(value)
    }
    with pytest.raises(InputError):
        DecomposeConfig(**raw)  # type: ignore[arg-type]


def test_run_writes_json_figures_cards_and_directions(
    tmp_path: Path, planted_store, loaded_span, direction
) -> None:
    outputs = run_decompose(direction, loaded_span, planted_store, tmp_path / "out", CONFIG)
    data = json.loads(outputs.json.read_text())
    for key in (
        "features",
        "explained_variance",
        "unexplained_share",
        "preflight",
        "config",
        "cosine",
        "sparse",
    ):
        assert key in data
    assert data["features"][0]["index"] == 0
    assert data["preflight"]["passed"] is True
    assert {p.name for p in outputs.figures} == {
        "explained_variance.png",
        "explained_variance.svg",
        "coefficients.png",
        "coefficients.svg",
    }
    report = (tmp_path / "out" / "report.html").read_text()
    assert "cards/feature_0.html" in report and "unexplained" in report
    card = (tmp_path / "out" / "cards" / "feature_0.html").read_text()
    assert "class='tok focus'" in card and "AUROC" in card

    saved = {d.name: d for d in load_directions(tmp_path / "out" / "directions")}
    assert set(saved) == {
        "base_L1_dom-sae_f0",
        "base_L1_dom-sae_f1",
        "base_L1_dom-sae_recon",
        "base_L1_dom-sae_residual",
    }
    f0 = load_direction(tmp_path / "out" / "directions" / "base_L1_dom-sae_f0.safetensors")
    assert f0.kind == "sae_feature" and f0.hook == direction.hook and f0.model == "base"
    assert f0.provenance["feature_index"] == 0 and f0.provenance["sae_id"] == "span-test"
    assert f0.provenance["coefficient"] == pytest.approx(3.0)
    torch.testing.assert_close(f0.vector, loaded_span.sae.W_dec[0].detach().cpu())
    recon, resid = saved["base_L1_dom-sae_recon"], saved["base_L1_dom-sae_residual"]
    torch.testing.assert_close(recon.vector + resid.vector, direction.vector)
    assert float(recon.vector @ resid.vector) == pytest.approx(0.0, abs=1e-5)  # least squares
