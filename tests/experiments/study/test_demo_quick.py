"""`backtrack demo --quick` end to end on the real model organism: every step, findings, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.gguf]


def test_demo_quick_runs_end_to_end_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "[1/13] seed0/traces" in printed and "where the time went" in printed
    assert "seed0/decisions" in printed  # the teacher-forced decision-point step ran
    findings = json.loads((out / "findings" / "findings.json").read_text())
    assert [a["key"] for a in findings["answers"]] == ["q1", "q2", "q3", "q4"]
    for answer in findings["answers"]:
        assert answer["verdict"] in ("yes", "no", "inconclusive")
        assert answer["effects"] and answer["summary"]
    assert (out / "findings" / "headline.png").stat().st_size > 10_000
    html = (out / "report" / "index.html").read_text()
    assert "Findings" in html and "figures/headline.png" in html
    assert (out / "report" / "figures" / "headline.png").is_file()
    assert (out / "findings" / "decisions.png").is_file()
    assert findings["curves"]["decisions"]["alphas"] == [-0.2, 0.0, 0.2]
    # Rerunning skips every finished step.
    assert main(["demo", "--quick", "--out", str(out), "--threads", "1"]) == 0
    again = capsys.readouterr().out
    assert again.count("done earlier, skipped") == 13
