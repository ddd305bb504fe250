"""Q3 from the probe step's results files: pooling over seeds and offsets."""

from __future__ import annotations

import json
from pathlib import Path

from experiments.study.config import load_study_config
from experiments.study.probe_findings import probe_answer


def _row(offset: int, over_structure: float | None) -> dict[str, object]:
    row: dict[str, object] = {
        "model": "reasoner",
        "hook": "blocks.1.hook_resid_post",
        "layer": 1,
        "offset": offset,
        "auroc": 0.8,
        "auroc_lo": 0.7,
        "auroc_hi": 0.9,
        "token_auroc": 0.5,
        "auroc_over_token": 0.3,
        "auroc_over_token_lo": 0.2,
        "auroc_over_token_hi": 0.4,
        "structure_auroc": None if over_structure is None else 0.8 - over_structure,
        "auroc_over_structure": over_structure,
        "auroc_over_structure_lo": None if over_structure is None else over_structure - 0.1,
        "auroc_over_structure_hi": None if over_structure is None else over_structure + 0.1,
    }
    return row


def _study(tmp_path: Path, over_structure: list[float | None]) -> Path:
    for seed, value in enumerate(over_structure):
        probes = tmp_path / f"seed{seed}" / "probes"
        probes.mkdir(parents=True)
        rows = [_row(o, value) for o in range(-6, 0)]
        (probes / "results.json").write_text(json.dumps({"results": rows}))
    return tmp_path


def test_a_probe_exactly_level_with_the_structure_baseline_keeps_the_baseline(
    tmp_path: Path,
) -> None:
    """A difference of exactly 0.0 over the structure baseline is a measurement, not a missing
    one: Q3 still compares with the baseline (it had read 0.0 as absent and dropped it)."""
    config = load_study_config("planted_quick", seeds=[0, 1])
    q3, curves = probe_answer(config, _study(tmp_path, [0.0, 0.1]))
    labels = [e.label for e in q3.effects]
    assert "probe AUROC − structure-baseline AUROC (window mean)" in labels
    assert "structure" in curves["-2"]
    assert "above the structure (layout) baseline" in q3.summary


def test_a_seed_without_the_structure_baseline_leaves_it_out(tmp_path: Path) -> None:
    config = load_study_config("planted_quick", seeds=[0, 1])
    q3, curves = probe_answer(config, _study(tmp_path, [0.1, None]))
    assert len(q3.effects) == 2 and "no structure baseline" in q3.summary
    assert "structure" not in curves["-2"]
