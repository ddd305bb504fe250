"""A run directory: the config it belongs to, its directions and plan, generations appended safely.

Layout (every number of a report can be rebuilt from these files)::

    RUN_DIR/config.json         kind + the full config (written first: marks the directory as ours)
    RUN_DIR/environment.json    versions, device, host, start time
    RUN_DIR/directions/         copies of every direction used (runtime baselines included)
    RUN_DIR/plan.json           the conditions, with their interventions (written last at set-up)
    RUN_DIR/generations.jsonl   one line per (condition, prompt): text, token ids, metrics
    RUN_DIR/interventions.jsonl per appended group of generations, one line per condition in it:
                                {"condition", "prompt_ids", "interventions": what each hook did
                                and how many prompt/generated positions it changed in those
                                generations, "batch": "mixed" | "vllm" (absent in older runs)}
    RUN_DIR/summary.json        means, CIs, paired tests, dose-response (rebuilt at the end)

Lines are appended whole, flushed and fsynced per batch; a line torn by a kill is dropped on
resume, so a killed run continues where it stopped and nothing finished is recomputed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activation_store.core.configs import config_to_dict
from activation_store.core.errors import InputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

logger = logging.getLogger(__name__)

RESUMABLE_FIELDS = frozenset({"batch_size", "prefix_cache_mb"})
"""Fields that may change between a run and its resumption (they do not change results)."""
ADDED_FIELDS = frozenset({"engine"})
"""Fields added after run directories were written: a config.json without one had the default."""
GENERATIONS = "generations.jsonl"
INTERVENTIONS = "interventions.jsonl"


class RunDir:
    """One run's directory (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._wanted: dict[str, Any] = {}
        self._added: dict[str, Any] = {}

    @classmethod
    def open(
        cls, path: str | Path, kind: str, config: DataclassInstance, *, resume: bool
    ) -> RunDir:
        """Check that ``path`` can take this run (new, or ``resume`` of the same config); no writes."""
        run = cls(Path(path))
        run._wanted = {"kind": kind, "config": config_to_dict(config)}
        run._added = {  # fields newer than some run directories: absent there = their default
            f.name: f.default for f in dataclasses.fields(config) if f.name in ADDED_FIELDS
        }
        config_file = run.path / "config.json"
        if config_file.is_file():
            if not resume:
                raise InputError(
                    f"{str(run.path)!r} already holds a run; pass --resume to continue it or "
                    "choose a new --out"
                )
            run._check_same(json.loads(config_file.read_text()), run._wanted)
        elif run.path.exists() and (not run.path.is_dir() or any(run.path.iterdir())):
            raise InputError(
                f"{str(run.path)!r} exists and is not a run directory; choose a new --out"
            )
        return run

    def start(self) -> None:
        """Create the directory and write ``config.json`` (once; it marks the directory as ours)."""
        if not (self.path / "config.json").is_file():
            self.path.mkdir(parents=True, exist_ok=True)
            self.write_json("config.json", self._wanted)

    def _check_same(self, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
        if stored.get("kind") != wanted["kind"]:
            raise InputError(
                f"{str(self.path)!r} holds a {stored.get('kind')} run, not a {wanted['kind']}; "
                "choose a new --out"
            )
        old, new = {**self._added, **stored.get("config", {})}, wanted["config"]
        diff = [
            k
            for k in sorted(set(old) | set(new))
            if k not in RESUMABLE_FIELDS and old.get(k) != new.get(k)
        ]
        if diff:
            k = diff[0]
            raise InputError(
                f"{str(self.path)!r} was made by a different config ({k}: {old.get(k)!r} there, "
                f"{new.get(k)!r} now{f'; also {len(diff) - 1} more' if len(diff) > 1 else ''}); "
                "resume with the same config or choose a new --out"
            )

    @property
    def initialised(self) -> bool:
        """Whether set-up (directions, plan) finished."""
        return (self.path / "plan.json").is_file()

    @property
    def directions_dir(self) -> Path:
        return self.path / "directions"

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``name`` atomically (temporary file + rename)."""
        target = self.path / name
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
        os.replace(tmp, target)
        return target

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    def generations(self) -> Iterator[dict[str, Any]]:
        """Every complete generation record so far."""
        yield from read_lines(self.path / GENERATIONS)

    def completed(self) -> set[tuple[str, str]]:
        """``(condition id, prompt id)`` pairs already generated."""
        return {(g["condition"], g["prompt_id"]) for g in self.generations()}

    def append(self, records: Iterable[dict[str, Any]], intervention: dict[str, Any]) -> None:
        """Append one batch: its generations, then what its interventions changed."""
        append_lines(self.path / GENERATIONS, records)
        append_lines(self.path / INTERVENTIONS, [intervention])

    def intervention_records(self) -> Iterator[dict[str, Any]]:
        yield from read_lines(self.path / INTERVENTIONS)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def append_lines(path: Path, objs: Iterable[dict[str, Any]]) -> None:
    _drop_torn_tail(path)
    text = "".join(json.dumps(o, default=_json_default) + "\n" for o in objs)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line without its newline (a write killed half-way)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
        logger.warning("dropped a torn last line of %s (%d bytes)", path, len(data) - keep)


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                return  # torn tail: not committed
            if line.strip():
                yield json.loads(line)
