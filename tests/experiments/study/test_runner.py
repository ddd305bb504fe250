"""The study runner: order, resuming, refusing a changed config, and failing steps."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from activation_store.core.errors import InputError
from experiments.study.config import StudyConfig
from experiments.study.runner import StudyInterrupted, run_study, step_dependencies
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
    """--jobs 2: the first two steps that need nothing (seed 0's traces and held-out traces) are
    real `backtrack` processes; their errors land in their logs."""
    config = StudyConfig(seeds=(0, 1), sae=None, prompts=str(tmp_path / "missing.jsonl"))
    with pytest.raises(
        InputError, match=r"step seed0/(heldout-)?traces failed \(exit 2, error in .*traces\.log\)"
    ):
        run_study(config, tmp_path / "study", runner=Recorder(), stream=io.StringIO(), jobs=2)
    for name in ("traces", "heldout-traces"):
        log = (tmp_path / "study" / "seed0" / "logs" / f"{name}.log").read_text()
        assert "error:" in log and "missing.jsonl" in log
    assert not (tmp_path / "study" / "seed1" / "logs").exists()


def test_every_step_waits_for_what_it_reads() -> None:
    """The dependency graph of a full study: a seed's store is written by one step at a time
    (cache, cache, label), everything that reads it waits for the labels, and the steering steps
    for the directions they steer with."""
    config = StudyConfig(seeds=(0, 1), sae="smollm2-135m-l10r-8x")
    deps = step_dependencies(all_steps(config, Path("/tmp/s")))
    assert deps["seed0/traces"] == () and deps["seed0/heldout-traces"] == ()
    assert deps["seed0/cache-reasoner"] == ("seed0/traces", "seed0/cache-base")
    assert "seed0/cache-reasoner" in deps["seed0/label"]
    assert deps["seed0/probes"] == ("seed0/label",)
    assert set(deps["seed0/directions"]) >= {"seed0/label", "seed0/cache-reasoner"}
    for step in ("sae", "sweep", "ablation"):
        assert deps[f"seed0/{step}"] == ("seed0/directions",)
    assert deps["seed1/decisions"] == ("seed1/heldout-traces", "seed1/directions")
    assert not any(d.startswith("seed0") for d in deps["seed1/sweep"])


def test_parallel_steps_start_once_what_they_read_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--jobs 3 on one seed: no step starts before the steps it waits for have finished, the
    independent steering steps overlap, and a failure starts nothing new."""
    import threading
    import time

    import experiments.study.runner as runner_module

    spans: dict[str, list[float]] = {}
    lock = threading.Lock()

    def fake_runner(log: Path, threads: int | None) -> object:
        name = f"{log.parent.parent.name}/{log.stem}"

        def run(argv: Sequence[str]) -> int:
            with lock:
                spans[name] = [time.perf_counter()]
            time.sleep(0.2)
            with lock:
                spans[name].append(time.perf_counter())
            return 0

        return run

    monkeypatch.setattr(runner_module, "subprocess_runner", fake_runner)
    config = StudyConfig(seeds=(0,), sae=None)
    run_study(config, tmp_path, runner=Recorder(), stream=io.StringIO(), jobs=3)
    deps = step_dependencies(all_steps(config, tmp_path.resolve()))
    assert set(spans) == {k for k in deps if k.startswith("seed")}
    # the findings and the report read every seed step and run in this process after them
    assert set(deps["findings"]) == set(spans) and "findings" in deps["report"]
    for step, needs in deps.items():
        if step not in spans:
            continue
        for need in needs:
            assert spans[need][1] <= spans[step][0], (step, need)
    (sweep_start, sweep_end), (abl_start, abl_end) = spans["seed0/sweep"], spans["seed0/ablation"]
    assert abl_start < sweep_end and sweep_start < abl_end
    assert spans["seed0/heldout-traces"][0] < spans["seed0/cache-base"][1]


def test_after_a_parallel_failure_nothing_new_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import experiments.study.runner as runner_module

    started: list[str] = []

    def fake_runner(log: Path, threads: int | None) -> object:
        def run(argv: Sequence[str]) -> int:
            started.append(log.stem)
            return 2 if log.stem == "label" else 0

        return run

    monkeypatch.setattr(runner_module, "subprocess_runner", fake_runner)
    config = StudyConfig(seeds=(0,), sae=None)
    with pytest.raises(InputError, match=r"step seed0/label failed"):
        run_study(config, tmp_path, runner=Recorder(), stream=io.StringIO(), jobs=2)
    assert "label" in started
    assert not {"directions", "probes", "sweep", "ablation", "decisions"} & set(started)
    state = json.loads((tmp_path / "study.json").read_text())
    assert "seed0/label" not in state["steps"] and "seed0/cache-reasoner" in state["steps"]
    # the rerun goes through: what finished beside the failed step (the held-out traces, which
    # read nothing) is no stale output, and the steps after it run
    done = set(state["steps"])
    monkeypatch.setattr(runner_module, "subprocess_runner", lambda log, threads: lambda argv: 0)
    run_study(config, tmp_path, runner=Recorder(), stream=io.StringIO(), jobs=2)
    after = json.loads((tmp_path / "study.json").read_text())["steps"]
    assert {s.id for s in all_steps(config, tmp_path.resolve())} == set(after)
    assert all(after[k] == state["steps"][k] for k in done)


def test_parallel_steps_run_under_this_process_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backtrack --threads 1 study run --jobs 2`: the step processes get --threads 1 too (at
    torch's default, each would take every core, and the concurrent steps stall one another)."""
    import experiments.study.runner as runner_module
    from activation_store.core import threads as threads_module

    seen: set[int | None] = set()

    def fake_runner(log: Path, threads: int | None) -> object:
        seen.add(threads)
        return lambda argv: 0

    monkeypatch.setattr(runner_module, "subprocess_runner", fake_runner)
    monkeypatch.setattr(threads_module, "_set", 1)
    # the study's own threads would set this (pytest's) process's too
    monkeypatch.setattr(threads_module, "set_threads", lambda n: None)
    config = StudyConfig(seeds=(0,), sae=None)
    run_study(config, tmp_path / "a", runner=Recorder(), stream=io.StringIO(), jobs=2)
    assert seen == {1}
    seen.clear()
    run_study(
        dataclasses.replace(config, threads=2),
        tmp_path / "b",
        runner=Recorder(),
        stream=io.StringIO(),
        jobs=2,
    )
    assert seen == {2}


def test_a_seed_added_to_a_finished_study_reruns_the_findings_and_report(tmp_path: Path) -> None:
    """The findings read every seed: after a seed is added, skipping them (their command is the
    same) would leave the one-seed findings standing as the study's."""
    one = StudyConfig(seeds=(0,), sae=None, decision_points=False)
    run_study(one, tmp_path, runner=Recorder(), stream=io.StringIO())
    rec, stream = Recorder(), io.StringIO()
    run_study(CONFIG, tmp_path, runner=rec, stream=stream)
    ran = [c[:2] for c in rec.calls]
    assert ran[-2:] == [["study", "findings"], ["report", "--out"]]
    assert not any(str(tmp_path.resolve() / "seed0") in " ".join(c) for c in rec.calls[:-2])
    assert "finished since: run again" in stream.getvalue()
    again = Recorder()
    run_study(CONFIG, tmp_path, runner=again, stream=io.StringIO())
    assert again.calls == []


def test_a_seed_step_whose_input_ran_again_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    """Within a seed the outputs are resumable state (a sweep continues its generations): a
    step left behind by a rerun of what it reads from is neither resumed nor overwritten."""
    run_study(CONFIG, tmp_path, runner=Recorder(), stream=io.StringIO())
    state_path = tmp_path / "study.json"
    state = json.loads(state_path.read_text())
    state["steps"]["seed1/directions"]["finished"] = "2999-01-01T00:00:00+00:00"
    state_path.write_text(json.dumps(state))
    rec = Recorder()
    with pytest.raises(InputError, match=r"step seed1/\S+ .* finished before seed1/directions"):
        run_study(CONFIG, tmp_path, runner=rec, stream=io.StringIO())
    assert rec.calls == []
    assert json.loads(state_path.read_text()) == state  # nothing recorded either


def test_a_seed_step_whose_input_has_no_record_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    """Removing a step's record (as the refusal above suggests) makes it run again first: the
    finished steps reading from it would then be resumed from outputs of the old inputs (a
    sweep's generations steered by the old directions), so they are refused too, up front, all
    in one refusal — and a step whose record went but whose resumable outputs stayed is refused
    as well. With the records and those outputs gone, exactly those steps run."""
    run_study(CONFIG, tmp_path, runner=Recorder(), stream=io.StringIO())
    state_path = tmp_path / "study.json"
    state = json.loads(state_path.read_text())
    del state["steps"]["seed1/label"]
    state_path.write_text(json.dumps(state))
    sweep = tmp_path.resolve() / "seed1" / "sweep-s1"
    sweep.mkdir(parents=True)  # the sweep's resumable outputs
    rec = Recorder()
    with pytest.raises(InputError) as refused:
        run_study(CONFIG, tmp_path, runner=rec, stream=io.StringIO())
    message = str(refused.value)
    assert rec.calls == []
    assert json.loads(state_path.read_text()) == state
    # label's readers, and theirs (directions → sweep, ablation), with the outputs to remove
    for step, before in (
        ("seed1/directions", "seed1/label"),
        ("seed1/probes", "seed1/label"),
        ("seed1/sweep", "seed1/directions"),
        ("seed1/ablation", "seed1/directions"),
    ):
        assert f"step {step} finished before {before}, which it reads from" in message
    assert str(sweep) in message and "seed0/" not in message
    readers = ("seed1/directions", "seed1/probes", "seed1/sweep", "seed1/ablation")
    for k in readers:
        del state["steps"][k]
    state_path.write_text(json.dumps(state))
    with pytest.raises(InputError, match=r"step seed1/sweep has no record but left outputs"):
        run_study(CONFIG, tmp_path, runner=Recorder(), stream=io.StringIO())
    sweep.rmdir()
    rec = Recorder()
    run_study(CONFIG, tmp_path, runner=rec, stream=io.StringIO())
    ran = [c[0] if c[0] not in ("steer", "study") else f"{c[0]} {c[1]}" for c in rec.calls]
    assert ran == [
        "label",
        "directions",
        "probe",
        "steer sweep",
        "steer ablate",
        "study findings",
        "report",
    ]
    assert all(str(tmp_path.resolve() / "seed1") in " ".join(c) for c in rec.calls[:-2])
