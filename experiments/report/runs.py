"""Read a run directory for the report; rebuild its summary when it is missing or stale."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunData:
    """Everything of one run the report shows (generations are read on demand)."""

    path: Path
    kind: str
    """``sweep`` or ``ablation``."""
    config: dict[str, Any]
    environment: dict[str, Any]
    plan: dict[str, Any]
    summary: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    def generations(self) -> list[dict[str, Any]]:
        from experiments.steering.runs.rundir import RunDir

        return list(RunDir(self.path).generations())


def load_run(path: str | Path) -> RunData:
    """A finished or interrupted run; one-line error when ``path`` is not a run directory."""
    path = Path(path)
    if not (path / "config.json").is_file() or not (path / "plan.json").is_file():
        raise InputError(
            f"{str(path)!r} is not a run directory (no config.json/plan.json); pass directories "
            "written by backtrack steer sweep/ablate"
        )
    stored = json.loads((path / "config.json").read_text())
    summary_file, generations = path / "summary.json", path / "generations.jsonl"
    stale = not summary_file.is_file() or (
        generations.is_file() and generations.stat().st_mtime > summary_file.stat().st_mtime
    )
    summary = _rebuild(path, stored) if stale else json.loads(summary_file.read_text())
    env_file = path / "environment.json"
    return RunData(
        path=path,
        kind=stored["kind"],
        config=stored["config"],
        environment=json.loads(env_file.read_text()) if env_file.is_file() else {},
        plan=json.loads((path / "plan.json").read_text()),
        summary=summary,
    )


def _rebuild(path: Path, stored: dict[str, Any]) -> dict[str, Any]:
    """Summarise an interrupted run from what it has (written back to summary.json)."""
    from activation_store.core.configs import config_from_dict
    from experiments.steering.runs.config import CONFIG_KINDS
    from experiments.steering.runs.rundir import RunDir
    from experiments.steering.runs.summary import summarize

    logger.info("summary of %s is missing or stale: rebuilding it from its generations", path)
    config = config_from_dict(CONFIG_KINDS[stored["kind"]], dict(stored["config"]))
    run = RunDir(path)
    n_prompts = len({g["prompt_id"] for g in run.generations()})
    summary = summarize(run, config, n_prompts)
    run.write_json("summary.json", summary)
    return summary
