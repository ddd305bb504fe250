"""Run a study's steps in order, skipping finished ones, so an interrupted study resumes.

``OUT/study.json`` records the config and, per finished step, its command line and time. Rerunning
the same command skips finished steps, and the unfinished one continues where its own command
stopped (traces append, caching resumes, steering runs continue). A changed config is refused,
naming the field, when it would change a step already finished, so one directory never mixes two
recipes; a change to steps not yet run is taken.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from activation_store.core.errors import InputError, ToolkitError
from experiments.study.config import StudyConfig
from experiments.study.stages import Step, all_steps
from experiments.study.state import STATE, load_state, save_state

CommandRunner = Callable[[Sequence[str]], int]
"""Runs one ``backtrack`` command (its argv without the program name) and returns its exit code;
e.g. the CLI's own ``main`` (in process) or :func:`subprocess_runner`."""


class StudyInterrupted(ToolkitError):
    """A step was interrupted (Ctrl-C); what it committed is kept."""


@dataclass(frozen=True)
class StudyResult:
    """Where the study went and where its time went."""

    out: Path
    report: Path
    """``report/index.html``."""
    seconds: dict[str, float]
    """Step id → seconds, over every run that finished it."""


def _plain(config: StudyConfig) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _check_compatible(state: dict[str, Any], config: StudyConfig, out: Path) -> None:
    """Refuse a config that would change a finished step's command, naming the field; a change
    that touches only steps still to run (e.g. the steering sizes before steering) is allowed."""
    saved, now = state.get("config", {}), _plain(config)
    changed = [
        k for k in sorted(set(saved) | set(now)) if k != "threads" and saved.get(k) != now.get(k)
    ]
    if not changed:
        return
    steps = {s.id: s for s in all_steps(config, out)}
    for step_id, done in state.get("steps", {}).items():
        step = steps.get(step_id)
        if step is None or list(step.argv) != done.get("argv"):
            fields = ", ".join(f"{k}={saved.get(k)!r} → {now.get(k)!r}" for k in changed[:3])
            more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
            was, becomes = done.get("argv", []), [] if step is None else list(step.argv)
            gone = " ".join(a for a in was if a not in becomes) or "-"
            added = " ".join(a for a in becomes if a not in was) or "-"
            raise InputError(
                f"the study in {str(out)!r} finished step {step_id} with another command "
                f"(config changed: {fields}{more}; the step's command drops: {gone}; adds: "
                f"{added}); pass the same values, or use a new --out"
            )


def in_process(main: Callable[[Sequence[str]], int]) -> CommandRunner:
    """Run each step through ``main`` (the ``backtrack`` CLI's entry) in this process; argparse's
    refusals (``SystemExit``) become exit codes."""

    def run(argv: Sequence[str]) -> int:
        try:
            return main(list(argv))
        except SystemExit as exit_:  # argparse refuses bad arguments by exiting
            return exit_.code if isinstance(exit_.code, int) else 2

    return run


def subprocess_runner(log: Path, threads: int | None) -> CommandRunner:
    """Run a step as its own ``backtrack`` process, its output going to ``log``."""

    def run(argv: Sequence[str]) -> int:
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "experiments"]
        command += ["--threads", str(threads)] if threads is not None else []
        with log.open("a") as sink:
            return subprocess.run(
                [*command, *argv], stdout=sink, stderr=subprocess.STDOUT
            ).returncode

    return run


def run_study(
    config: StudyConfig,
    out: str | Path,
    *,
    runner: CommandRunner,
    stream: TextIO | None = None,
    jobs: int = 1,
) -> StudyResult:
    """Run (or resume) every step of ``config`` in ``out``; each step is one ``backtrack`` command,
    run by ``runner`` (the CLI passes its own entry point, see :func:`in_process`).

    ``jobs`` > 1 runs up to that many steps at once, each as its own process with its output in
    ``OUT/seed{S}/logs/``: other seeds' steps, and the steps of a seed that do not read each
    other's outputs (``Step.after``: the probes beside the directions, the held-out traces from
    the start, the decision points, sweep and ablation beside each other). The findings and the
    report follow when every seed is done.
    """
    out = Path(out).resolve()
    stream = stream or sys.stdout
    out.mkdir(parents=True, exist_ok=True)
    state = load_state(out)
    if state:
        _check_compatible(state, config, out)
    state.setdefault("steps", {})
    steps = all_steps(config, out)
    deps = step_dependencies(steps)
    _refuse_stale_seed_steps(steps, deps, state, out)  # before the new config is recorded
    state["config"] = _plain(config)
    save_state(out, state)
    if config.threads is not None:
        from activation_store.core.threads import set_threads

        set_threads(config.threads)
    started = time.perf_counter()
    numbered = list(enumerate(steps, 1))
    if jobs > 1:
        seed_steps = [(i, s) for i, s in numbered if s.id.startswith("seed")]
        _run_steps_in_parallel(
            config, out, state, seed_steps, len(steps), jobs, stream, started, deps
        )
        numbered = [(i, s) for i, s in numbered if not s.id.startswith("seed")]
    for i, step in numbered:
        _run_step(step, i, len(steps), out, state, runner, stream, deps=deps)
        elapsed = time.perf_counter() - started
        print(f"    ({elapsed / 60:.1f} min so far)", file=stream, flush=True)
    seconds = {k: float(v["seconds"]) for k, v in state["steps"].items()}
    _print_timings(steps, seconds, stream)
    report = out / "report" / "index.html"
    print(f"report: {report}", file=stream, flush=True)
    return StudyResult(out, report, seconds)


def step_dependencies(steps: Sequence[Step]) -> dict[str, tuple[str, ...]]:
    """Step id → ids of the steps it waits for (and reads from): its declared ``after``, or every
    earlier step of its seed; a step of no seed (the findings, the report) every earlier step.
    Refuses (a bug in the stages) an ``after`` naming no earlier step."""
    deps: dict[str, tuple[str, ...]] = {}
    earlier: dict[str, list[str]] = {}
    for n, step in enumerate(steps):
        if "/" not in step.id:
            deps[step.id] = tuple(s.id for s in steps[:n])
            continue
        seed = step.id.split("/")[0]
        mine = earlier.setdefault(seed, [])
        if step.after is None:
            deps[step.id] = tuple(mine)
        else:
            unknown = [a for a in step.after if a not in mine]
            if unknown:
                raise ValueError(f"step {step.id} waits for {unknown}, which are no earlier steps")
            deps[step.id] = step.after
        mine.append(step.id)
    return deps


def _run_steps_in_parallel(
    config: StudyConfig,
    out: Path,
    state: dict[str, Any],
    numbered: list[tuple[int, Step]],
    n_steps: int,
    jobs: int,
    stream: TextIO,
    started: float,
    deps: dict[str, tuple[str, ...]],
) -> None:
    """Every seed step as its own process, up to ``jobs`` at once, each started as soon as the
    steps it reads from are done (finished ones are skipped as in a serial run). After a failure
    no new step starts; the running ones finish, then the first error is raised."""
    from activation_store.core.threads import threads_set

    # the study's threads, else this process's (`backtrack --threads N study run`): a child at
    # torch's default would take every core each, and N children stall one another
    threads = config.threads if config.threads is not None else threads_set()
    lock = threading.Lock()
    pending = list(numbered)
    finished: set[str] = set()
    running: dict[Future[None], str] = {}

    def work(i: int, step: Step) -> None:
        seed, name = step.id.split("/")
        log = out / seed / "logs" / f"{name}.log"
        runner = subprocess_runner(log, threads)
        _run_step(step, i, n_steps, out, state, runner, stream, lock=lock, log=log, deps=deps)
        with lock:
            elapsed = (time.perf_counter() - started) / 60
            print(f"    ({step.id} done; {elapsed:.1f} min so far)", file=stream, flush=True)

    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            if error is None:
                ready = [(i, s) for i, s in pending if set(deps[s.id]) <= finished]
                for i, step in ready[: jobs - len(running)]:
                    pending.remove((i, step))
                    running[pool.submit(work, i, step)] = step.id
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                step_id = running.pop(future)
                if future.exception() is None:
                    finished.add(step_id)
                elif error is None:
                    error = future.exception()
    if error is not None:
        raise error


def _run_step(
    step: Step,
    i: int,
    n: int,
    out: Path,
    state: dict[str, Any],
    runner: CommandRunner,
    stream: TextIO,
    *,
    lock: threading.Lock | None = None,
    log: Path | None = None,
    deps: dict[str, tuple[str, ...]] | None = None,
) -> None:
    lock = lock or threading.Lock()
    newer = _newer_inputs(step, (deps or {}).get(step.id, ()), state)
    if newer == []:
        print(f"[{i}/{n}] {step.id}: {step.title} — done earlier, skipped", file=stream, flush=True)
        return
    if newer:
        with lock:
            print(
                f"[{i}/{n}] {step.id}: done earlier, but {', '.join(newer[:3])}"
                f"{' …' if len(newer) > 3 else ''} finished since: run again",
                file=stream,
                flush=True,
            )
    argv = list(step.argv)
    if step.resumable_out is not None and (out / step.resumable_out).exists():
        argv.append("--resume")
    with lock:
        print(f"[{i}/{n}] {step.id}: {step.title}", file=stream, flush=True)
        print(f"    $ backtrack {' '.join(_quote(a) for a in argv)}", file=stream, flush=True)
        if log is not None:
            print(f"    (output: {log})", file=stream, flush=True)
    t0 = time.perf_counter()
    rc = runner(argv)
    seconds = time.perf_counter() - t0
    if rc == 130:
        raise StudyInterrupted(f"interrupted in step {step.id}; rerun the same command to resume")
    if rc != 0:
        where = "error above" if log is None else f"error in {log}"
        raise InputError(
            f"step {step.id} failed (exit {rc}, {where}); fix it and rerun the same command "
            "to resume from this step"
        )
    with lock:
        state["steps"][step.id] = {
            "argv": list(step.argv),
            "seconds": round(seconds, 1),
            "finished": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        }
        save_state(out, state)


def _refuse_stale_seed_steps(
    steps: Sequence[Step], deps: dict[str, tuple[str, ...]], state: dict[str, Any], out: Path
) -> None:
    """Refuse, before anything runs, every seed step whose outputs would be stale: one finished
    before a step it reads from ran again, or before one that will run in this invocation (its
    record removed from ``study.json``, or its command changed), and one whose record is gone but
    whose resumable outputs are left from before such an input. Resuming it would keep outputs
    made from the old inputs (a sweep's generations steered by the old directions), starting it
    afresh would lose them. One refusal lists them all, with the outputs to remove. The findings
    and the report hold no state of their own and simply run again (:func:`_run_step`)."""
    will_run: set[str] = set()
    stale: list[str] = []
    leftovers: list[str] = []
    for step in steps:  # a step's inputs come before it (step_dependencies)
        mine = deps.get(step.id, ())
        newer = _newer_inputs(step, mine, state)
        upstream = [d for d in mine if d in will_run]
        left = step.resumable_out is not None and (out / step.resumable_out).exists()
        if "/" in step.id:
            if newer:
                stale.append(
                    f"step {step.id} finished before {newer[0]}, which it reads from, ran again"
                )
            elif upstream and newer is not None:
                stale.append(
                    f"step {step.id} finished before {upstream[0]}, which it reads from and which "
                    "will run first (no record, or another command)"
                )
            elif upstream and left:
                stale.append(
                    f"step {step.id} has no record but left outputs from before {upstream[0]}, "
                    "which it reads from and which will run first"
                )
            if (newer or upstream) and left:
                leftovers.append(str(out / str(step.resumable_out)))
        if newer is None or newer or upstream:
            will_run.add(step.id)  # stale steps too, so that the steps reading them are listed
    if stale:
        remove = f"their outputs ({', '.join(leftovers)}) and " if leftovers else ""
        raise InputError(
            f"in {str(out)!r} the outputs of {len(stale)} step(s) would be stale: "
            f"{'; '.join(stale)}; remove {remove}their records in {STATE}, or rerun the study "
            "with a new --out"
        )


def _newer_inputs(step: Step, deps: Sequence[str], state: dict[str, Any]) -> list[str] | None:
    """None unless ``step`` finished with its present command; else the steps it reads from that
    finished after it did (e.g. a seed added to a study whose findings were written), whose
    outputs make its own stale."""
    steps = state["steps"]
    done = steps.get(step.id)
    if done is None or done.get("argv") != list(step.argv):
        return None
    if done.get("finished") is None:
        return []
    when = datetime.fromisoformat(done["finished"])
    return [
        d
        for d in deps
        if steps.get(d, {}).get("finished") is not None
        and datetime.fromisoformat(steps[d]["finished"]) > when
    ]


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _print_timings(steps: Sequence[Step], seconds: dict[str, float], stream: TextIO) -> None:
    total = sum(seconds.get(s.id, 0.0) for s in steps)
    print(f"where the time went ({total / 60:.1f} min in all):", file=stream)
    by_kind: dict[str, float] = {}
    for s in steps:
        kind = s.id.split("/")[-1]
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds.get(s.id, 0.0)
    width = max(len(k) for k in by_kind)
    for kind, secs in by_kind.items():
        share = 100 * secs / total if total else 0.0
        print(f"  {kind:<{width}}  {secs:7.1f} s  {share:4.1f} %", file=stream)
    stream.flush()
