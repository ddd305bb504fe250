"""Write and read synthetic trace files (JSON lines), with the config that drew them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from activation_store.core.errors import InputError
from activation_store.token_input import iter_jsonl
from experiments.organism.traces import SyntheticTrace


def write_traces(path: Path, traces: Sequence[SyntheticTrace]) -> str:
    """Write ``traces`` to ``path`` atomically (temporary file, then rename); return its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    text = "".join(json.dumps(t.to_json(), ensure_ascii=False) + "\n" for t in traces)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_traces(path: Path) -> list[SyntheticTrace]:
    """Read a file written by :func:`write_traces` (errors name the file and line)."""
    out: list[SyntheticTrace] = []
    for line_no, obj in iter_jsonl(path):
        try:
            out.append(SyntheticTrace.from_json(obj))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{path}:{line_no}: not a synthetic trace ({err!r})") from err
    return out


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def config_json(config: object) -> str:
    """A dataclass config as indented JSON (tuples become lists)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return json.dumps(dataclasses.asdict(config), indent=2)
