"""The study runner: order, resuming, refusing a changed config, and failing steps."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from activation_store.core.errors import InputError
from experiments.study.config import StudyConfig
from experiments.study.runner import StudyInterrupted, run_study
from experiments.study.stages import all_steps


class Recorder:
    """Stands in for the ``backtrack`` entry point: records each command, fails on request."""

    def __init__(self, fail_at: str | None = None, code: int = 2) -> None:
        self.calls: list[list[str]] = []
        self.fail_at, self.code = fail_at, code

    def __call__(self, argv: Sequence[str]) -> int:
        self.calls.append(list(argv))
        if self.fail_at is not None and self.fail_at in argv:
            return self.code
        return 0


CONFIG = StudyConfig(seeds=(0, 1), sae=None, decision_points=False)
"""Without the decision-point steps, so the first step n_steer_prompts touches is the sweep."""


def test_runs_every_step_in_order_then_skips_them(tmp_path: Path) -> None:
    rec, stream = Recorder(), io.StringIO()
    result = run_study(CONFIG, tmp_path, runner=rec, stream=stream)
    steps = all_steps(CONFIG, tmp_path.resolve())
    assert [c[:2] for c in rec.calls] == [list(s.argv[:2]) for s in steps]
    assert rec.calls[0][0] == "traces" and rec.calls[-1][0] == "report"
    assert set(result.seconds) == {s.id for s in steps}
    assert "where the time went" in stream.getvalue()
    again = Recorder()
    run_study(CONFIG, tmp_path, runner=again, stream=io.StringIO())
    assert again.calls == []


def test_a_failed_step_stops_and_the_rerun_resumes_there(tmp_path: Path) -> None:
    sweep_dir = str(tmp_path.resolve() / "seed0" / "sweep-s0")
    rec = Recorder(fail_at=sweep_dir)
    with pytest.raises(InputError, match=r"step seed0/sweep failed .*rerun the same command"):
        run_study(CONFIG, tmp_path, runner=rec, stream=io.StringIO())
    assert rec.calls[-1][:2] == ["steer", "sweep"]
    (tmp_path / "seed0" / "sweep-s0").mkdir(parents=True)  # what the interrupted sweep left
    again = Recorder()
    run_study(CONFIG, tmp_path, runner=again, stream=io.StringIO())
    assert again.calls[0][:2] == ["steer", "sweep"] and again.calls[0][-1] == "--resume"
    state = json.loads((tmp_path / "study.json").read_text())
    assert "seed1/ablation" in state["steps"]


def test_interrupt_is_reported(tmp_path: Path) -> None:
    with pytest.raises(StudyInterrupted, match="rerun the same command"):
        run_study(
            CONFIG, tmp_path, runner=Recorder(fail_at="traces", code=130), stream=io.StringIO()
        )


def test_a_change_to_a_finished_step_is_refused_naming_the_field(tmp_path: Path) -> None:
    run_study(CONFIG, tmp_path, runner=Recorder(), stream=io.StringIO())
    changed = StudyConfig(seeds=(0, 1), sae=None, decision_points=False, n_steer_prompts=7)
    with pytest.raises(InputError) as refused:
        run_study(changed, tmp_path, runner=Recorder(), stream=io.StringIO())
    message = str(refused.value)
    assert "finished step seed0/sweep with another command" in message
    assert "n_steer_prompts=40 → 7" in message and "adds: 7" in message


def test_a_change_to_steps_not_yet_run_is_taken(tmp_path: Path) -> None:
    sweep_dir = str(tmp_path.resolve() / "seed0" / "sweep-s0")
    with pytest.raises(InputError):
        run_study(CONFIG, tmp_path, runner=Recorder(fail_at=sweep_dir), stream=io.StringIO())
    changed = StudyConfig(seeds=(0, 1), sae=None, decision_points=False, n_steer_prompts=7)
    rec = Recorder()
    run_study(changed, tmp_path, runner=rec, stream=io.StringIO())
    assert rec.calls[0][:2] == ["steer", "sweep"] and "7" in rec.calls[0]
    assert json.loads((tmp_path / "study.json").read_text())["config"]["n_steer_prompts"] == 7


def test_parallel_seeds_run_steps_as_processes_with_logs(tmp_path: Path) -> None:
    """--jobs 2: each seed's first step is a real `backtrack` process; its error lands in its log."""
    config = StudyConfig(seeds=(0, 1), sae=None, prompts=str(tmp_path / "missing.jsonl"))
    with pytest.raises(
        InputError, match=r"step seed[01]/traces failed \(exit 2, error in .*traces\.log\)"
    ):
        run_study(config, tmp_path / "study", runner=Recorder(), stream=io.StringIO(), jobs=2)
    for seed in (0, 1):
        log = (tmp_path / "study" / f"seed{seed}" / "logs" / "traces.log").read_text()
        assert "error:" in log and "missing.jsonl" in log
