"""`backtrack study run planted_quick` end to end: the planted positive control and the null.

Issue #13's acceptance test. The single variant must pass every graded ground-truth criterion;
the null variant's Q1 and Q4 verdicts must not be "yes". Criteria that fail on the tiny model
are listed in README "Positive and null controls" with their diagnosis and marked xfail here
(not strict; each diagnosis has a test of its own), never loosened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.cli import main
from experiments.study.config import load_study_config
from experiments.study.ground_truth import planted_directions, probe_criterion
from experiments.study.probe_findings import probe_answer
from experiments.study.stages import probe_config
from probes.probe_report import write_report
from probes.probe_run import run_probes

pytestmark = pytest.mark.slow

KNOWN_FAILURES: dict[str, str] = {
    "c6": "as far as u itself: the window's probe reaches AUROC 0.74 and u alone 0.80 on the "
    "same rows on seed 0 (planted_u; five seeds 0.77 and 0.80). u read at the rows' decision "
    "point reaches 0.84 (planted_u_at_line_end): the concept fades back over the window. "
    "Backtracks chain (40 % of the window's positives sit in a line that a backtrack opened), "
    "and the matched negatives, sharing the positives' line opener, come from such lines too, "
    "where u is still high; against every token at the same distance to the line's end, u "
    "reaches 0.90 (planted_u_any_opener), and with position negatives the probe reads about as "
    "much as u does there (0.86 and 0.90; "
    "test_position_negatives_recover_what_opener_matching_costs)",
}
"""Criterion key → diagnosis, for criteria that fail on the tiny model (README)."""


@pytest.fixture(scope="module")
def single_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("planted") / "single"
    assert main(["--threads", "1", "study", "run", "planted_quick", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def single(single_dir: Path) -> dict:
    html = (single_dir / "report" / "index.html").read_text()
    assert "Ground truth" in html
    return json.loads((single_dir / "findings" / "findings.json").read_text())


def test_single_carries_ground_truth_first(single: dict) -> None:
    assert next(iter(single)) == "ground_truth"
    truth = single["ground_truth"]
    assert truth["variant"] == "single"
    keys = [c["key"] for c in truth["criteria"]]
    # no SAE in the tiny study: no c5; the ablation graded per mode (zero c4, mean c4m)
    assert keys == ["c1", "c2", "c3", "c4", "c4m", "c6"]
    for c in truth["criteria"]:
        assert {"figure", "threshold", "passed"} <= set(c)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(k, marks=pytest.mark.xfail(reason=KNOWN_FAILURES[k], strict=False))
        if k in KNOWN_FAILURES
        else k
        for k in ("c1", "c2", "c3", "c4", "c4m", "c6")
    ],
)
def test_single_passes_criterion(single: dict, key: str) -> None:
    (c,) = [c for c in single["ground_truth"]["criteria"] if c["key"] == key]
    assert c["passed"] is True, c


def test_a_failing_probe_criterion_is_the_controls(single: dict) -> None:
    """c6 carries the planted direction's own AUROC on the probes' rows (the stores are there). A
    probe below 0.9 while u itself clears it would be the pipeline's failure, not the control's."""
    (c,) = [c for c in single["ground_truth"]["criteria"] if c["key"] == "c6"]
    planted = c["figure"]["planted_u"]
    assert 0.0 <= planted <= 1.0
    if not c["passed"]:
        assert planted < 0.9 or c["figure"]["token_auroc"] > 0.7, c


def test_the_probe_criterions_diagnosis_holds(single: dict) -> None:
    """KNOWN_FAILURES["c6"] (and README): the negatives' opener matching costs the concept —
    unmatched on the opener, u separates the window's positives better than on the probes' rows,
    and a good share of the positives sit in lines that a backtrack opened — and the concept is
    weaker over the window than at the decision point the reader reads."""
    (c,) = [c for c in single["ground_truth"]["criteria"] if c["key"] == "c6"]
    figure = c["figure"]
    assert 0.0 <= figure["positives_in_backtrack_lines"] <= 1.0
    if not c["passed"]:
        assert figure["planted_u_any_opener"] > figure["planted_u"], figure
        assert figure["positives_in_backtrack_lines"] > 0.2, figure
        assert figure["planted_u_at_line_end"] > figure["planted_u"], figure


def test_position_negatives_recover_what_opener_matching_costs(
    single_dir: Path, single: dict, tmp_path: Path
) -> None:
    """README: the study's probe step on the same store with the line opener left out of the
    matching (``probe_negatives = "position"``): the planted concept separates those rows better
    than the opener-matched ones, and the probe gains with it, reading about as much as u does."""
    from activation_store.models.planted_records import planted_record

    config = load_study_config("planted_quick", probe_negatives="position")
    cfg = probe_config(config, 0)
    assert cfg.negatives == "position"
    report = run_probes(single_dir / "seed0" / "store.h5", cfg)
    write_report(report, tmp_path / "seed0" / "probes", plots=False)
    (tmp_path / "seed0" / "store.h5").symlink_to(single_dir / "seed0" / "store.h5")
    record = planted_record(config.reasoner)
    assert record is not None
    us = planted_directions(record)
    q3, _ = probe_answer(config, tmp_path)
    position = probe_criterion(config, tmp_path, q3, us)["figure"]
    (matched,) = [c["figure"] for c in single["ground_truth"]["criteria"] if c["key"] == "c6"]
    assert position["planted_u"] > matched["planted_u"], (position, matched)
    assert position["auroc"] > matched["auroc"], (position, matched)
    assert position["auroc"] >= position["planted_u"] - 0.1, position


def test_null_verdicts_are_not_yes(tmp_path: Path) -> None:
    out = tmp_path / "null"
    argv = ["--threads", "1", "study", "run", "planted_quick", "--out", str(out)]
    assert main([*argv, "--reasoner", "tiny-llama-planted-null"]) == 0
    findings = json.loads((out / "findings" / "findings.json").read_text())
    verdicts = {a["key"]: a["verdict"] for a in findings["answers"]}
    assert verdicts["q1"] != "yes" and verdicts["q4"] != "yes"
    (n1,) = [c for c in findings["ground_truth"]["criteria"] if c["key"] == "n1"]
    assert n1["passed"] is True


def test_single_base_control_reads_unchanged(single: dict) -> None:
    """The planted base model has no reader (known answer: unchanged). Q2 must say yes, and the
    summary must state the margin it used."""
    (q2,) = [a for a in single["answers"] if a["key"] == "q2"]
    assert q2["verdict"] == "yes", q2["summary"]
    assert "× the reasoner's change: unchanged" in q2["summary"]
