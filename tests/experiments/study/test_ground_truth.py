"""Ground-truth criteria on synthetic inputs: grading, lines and the report section."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from experiments.cli import main
from experiments.report.ground_truth_section import ground_truth_section
from experiments.study.answers import Answer
from experiments.study.effects import Effect
from experiments.study.ground_truth import base_criterion, ground_truth_lines
from experiments.study.probe_findings import OVER_CHANCE
from tests.paths import REPO_ROOT


def _q2(lo: float, hi: float) -> Answer:
    """Q2 as the findings write it: the decision-point effect (log-odds) first, then the
    per-generation one the criterion grades."""
    decisions = Effect(label="decision points", diff=3.0, lo=2.0, hi=4.0, p_value=None, n=8)
    label = "base model: base direction − unsteered"
    e = Effect(label=label, diff=(lo + hi) / 2, lo=lo, hi=hi, p_value=None, n=8)
    return Answer("q2", "?", "yes", "", [decisions, e])


def test_base_criterion_needs_the_ci_inside_the_band() -> None:
    assert base_criterion(_q2(-0.04, 0.03))["passed"] is True
    assert base_criterion(_q2(-0.01, 0.06))["passed"] is False


def test_lines_and_section_show_every_criterion() -> None:
    truth = {
        "model": "m",
        "variant": "single",
        "planted": {"layer": 1, "opener": "Wait", "directions": [{"name": "u"}]},
        "criteria": [
            {
                "key": "c1",
                "criterion": "cos",
                "figure": {"u": 0.8},
                "threshold": "≥ 0.5",
                "passed": True,
            },
            {
                "key": "c4",
                "criterion": "ablate",
                "figure": {"cut": -1.0},
                "threshold": "≥ 80%",
                "passed": False,
                "note": "too few <samples>",
            },
        ],
        "passed": 1,
        "graded": 2,
    }
    lines = ground_truth_lines(truth)
    assert "1/2 criteria passed" in lines[0]
    assert lines[1].startswith("  PASS c1") and lines[2].startswith("  FAIL c4")
    assert lines[2].endswith("; too few <samples>") and "note" not in lines[1]
    html = ground_truth_section({"ground_truth": truth})
    assert html is not None and "FAIL" in html and "PASS" in html and "0.800" in html
    assert "too few &lt;samples&gt;" in html  # a criterion's note is shown, escaped
    assert ground_truth_section({"answers": []}) is None


@pytest.mark.slow
def test_committed_planted_ground_truth_recomputes_without_the_stores(tmp_path: Path) -> None:
    """The committed SmolLM2 single study (no activation stores) regrades to the same figures;
    what needs a store (c1 at offset −1, c6's planted_u and the figures beside it) is left out,
    never filled with NaN."""
    committed = REPO_ROOT / "results" / "planted" / "single"
    study = tmp_path / "single"
    shutil.copytree(committed, study)
    shutil.rmtree(study / "findings")
    assert main(["--threads", "1", "study", "findings", str(study)]) == 0
    fresh = json.loads((study / "findings" / "findings.json").read_text())["ground_truth"]
    old = json.loads((committed / "findings" / "findings.json").read_text())["ground_truth"]
    from_stores = {
        "c6": {
            "planted_u",
            "planted_u_at_line_end",
            "planted_u_any_opener",
            "positives_in_backtrack_lines",
        }
    }
    for new, before in zip(fresh["criteria"], old["criteria"], strict=True):
        assert (new["key"], new["passed"]) == (before["key"], before["passed"])
        if not isinstance(before["figure"], dict):
            assert new["figure"] == before["figure"]
            continue
        assert set(new["figure"]) <= set(before["figure"])
        assert set(before["figure"]) - set(new["figure"]) == from_stores.get(new["key"], set())
        assert new["figure"] == {k: before["figure"][k] for k in new["figure"]}
    (c6,) = [c for c in fresh["criteria"] if c["key"] == "c6"]
    assert not any(k.startswith("planted_") for k in c6["figure"])
    assert c6["figure"]["min_test_positives"] >= 1
    # c6's CI is Q3's, moved from "over chance" to AUROC
    (q3,) = [
        a
        for a in json.loads((study / "findings" / "findings.json").read_text())["answers"]
        if a["key"] == "q3"
    ]
    (chance,) = [e for e in q3["effects"] if e["label"] == OVER_CHANCE]
    assert c6["figure"]["auroc_lo"] == pytest.approx(max(0.0, 0.5 + chance["lo"]))
    assert c6["figure"]["auroc_hi"] == pytest.approx(min(1.0, 0.5 + chance["hi"]))


def test_slot_matched_auroc_weighs_each_slots_negatives_as_its_positives() -> None:
    """c6's planted_u_any_opener: negatives from every pool row, reweighted slot by slot."""
    from experiments.study.ground_truth import slot_matched_auroc

    # slot 0: 1 positive (score 2) and 1 pool row (3); slot 1: 1 positive (5), 3 pool rows (4);
    # slot 2 has no positive, so its pool row (9) must not count
    scores = np.array([2.0, 3.0, 5.0, 4.0, 4.0, 4.0, 9.0])
    positive = np.array([1, 0, 1, 0, 0, 0, 0], dtype=bool)
    pool = np.array([0, 1, 0, 1, 1, 1, 1], dtype=bool)
    slot = np.array([0, 0, 1, 1, 1, 1, 2])
    # negatives weigh 1 (slot 0, score 3) and 3 × 1/3 (slot 1, score 4): the positive at 2 beats
    # neither, the one at 5 beats both → AUROC (0 + 2) / (2 · 2) = 0.5; unweighted it would be
    # (0 + 4) / (2 · 5) with the slot-2 row
    assert slot_matched_auroc(scores, positive, pool, slot) == pytest.approx(0.5)
    # a pool row of a positive's own slot that a positive outranks raises it
    scores[1] = 1.0
    assert slot_matched_auroc(scores, positive, pool, slot) == pytest.approx(0.75)


def test_criterion_2_is_not_passed_when_minus_alpha_was_not_run() -> None:
    """ "−α lowers it" is a third of c2: without a negative α it is unmeasured, not true, so a
    study steering only upwards cannot pass c2 (the SmolLM2 joint control had passed it)."""
    from experiments.study.ground_truth import steering_grade

    above = {0.2: {"base": 1.4, "random_p95": 1.3, "n_random": 30}}
    up_only = steering_grade({0.0: 0.1, 0.2: 1.4}, above)
    assert up_only["negative_lowers"] is None and up_only["passed"] is None
    both = steering_grade({-0.2: 0.05, 0.0: 0.1, 0.2: 1.4}, above)
    assert both["negative_lowers"] is True and both["passed"] is True
    raises = steering_grade({-0.2: 0.3, 0.0: 0.1, 0.2: 1.4}, above)
    assert raises["passed"] is False  # monotone fails too
    below_random = {0.2: {"base": 1.4, "random_p95": 1.5, "n_random": 30}}
    assert steering_grade({0.0: 0.1, 0.2: 1.4}, below_random)["passed"] is False
