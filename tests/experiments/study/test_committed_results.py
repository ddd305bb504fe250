"""The committed full studies on the organism (results/organism_full on v5, results/
organism_full_v8 on the v8 candidate): their findings are complete, `study findings` recomputes
them and `backtrack report` rebuilds the page from the committed files alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from experiments.cli import main
from tests.paths import REPO_ROOT

RESULTS = REPO_ROOT / "results" / "organism_full"


def test_findings_answer_the_four_questions_over_every_seed_of_the_run() -> None:
    findings = json.loads((RESULTS / "findings" / "findings.json").read_text())
    study = json.loads((RESULTS / "study.json").read_text())
    assert len(findings["seeds"]) >= 2
    assert findings["seeds"] == study["config"]["seeds"]
    assert [a["key"] for a in findings["answers"]] == ["q1", "q2", "q3", "q4"]
    for answer in findings["answers"]:
        assert answer["verdict"] in ("yes", "no", "inconclusive")
        for effect in answer["effects"]:
            assert effect["lo"] <= effect["diff"] <= effect["hi"]
    assert (RESULTS / "findings" / "headline.png").stat().st_size > 10_000


def test_free_generation_reports_backtracking_with_no_error_to_catch() -> None:
    findings = json.loads((RESULTS / "findings" / "findings.json").read_text())
    q1 = findings["answers"][0]
    labels = [e["label"] for e in q1["effects"]]
    assert "reasoner: base direction − unsteered, backtracks after a right step" in labels
    assert "P(backtrack | correct step)" in q1["summary"]


def test_probe_curves_hold_the_base_models_control_beside_the_reasoners() -> None:
    findings = json.loads((RESULTS / "findings" / "findings.json").read_text())
    layer = findings["config"]["steer_layer"]
    by_offset: dict[int, list[float]] = {}
    for seed in findings["seeds"]:
        rows = json.loads((RESULTS / f"seed{seed}" / "probes" / "results.json").read_text())
        for r in rows["results"]:
            if r["model"] == "base" and r["layer"] == layer and r["offset"] < 0:
                by_offset.setdefault(int(r["offset"]), []).append(r["auroc"])
    curves = findings["curves"]["probes"]
    assert sorted(int(o) for o in curves) == sorted(by_offset)
    for offset, values in by_offset.items():
        assert curves[str(offset)]["base"] == pytest.approx(sum(values) / len(values))


@pytest.mark.parametrize("name", ["organism_full", "organism_full_v8"])
def test_findings_recompute_from_the_committed_files(tmp_path: Path, name: str) -> None:
    """`study findings` on the committed per-seed results alone (no activation stores) gives the
    committed answers, capability checks and curves: every number in them comes from these files
    (the v5 organism's study, which the README's findings used to be on, and v8's, which they are
    on now)."""
    committed_dir = REPO_ROOT / "results" / name
    results = tmp_path / name
    shutil.copytree(committed_dir, results)
    shutil.rmtree(results / "findings")
    assert main(["study", "findings", str(results)]) == 0
    fresh = json.loads((results / "findings" / "findings.json").read_text())
    committed = json.loads((committed_dir / "findings" / "findings.json").read_text())
    for key in ("seeds", "answers", "capability", "curves"):
        assert fresh[key] == committed[key], key


@pytest.mark.slow
def test_report_rebuilds_from_the_committed_files(tmp_path: Path) -> None:
    # A copy: a fresh clone's file times may mark a summary stale, and the report then rewrites it.
    results = tmp_path / "organism_full"
    shutil.copytree(RESULTS, results)
    seed0 = results / "seed0"
    argv = [
        "report", "--out", str(tmp_path / "report"), str(seed0 / "sweep-s0"),
        str(seed0 / "ablation-s0"), "--probes", str(seed0 / "probes"), "--sae", str(seed0 / "sae"),
        "--findings", str(results / "findings"),
    ]  # fmt: skip
    assert main(argv) == 0
    html = (tmp_path / "report" / "index.html").read_text()
    assert "Findings" in html and "figures/headline.png" in html
    numbers = json.loads((tmp_path / "report" / "report.json").read_text())
    committed = json.loads((RESULTS / "findings" / "findings.json").read_text())
    assert numbers["findings"]["answers"] == committed["answers"]
