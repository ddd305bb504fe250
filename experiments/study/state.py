"""A study's record, ``OUT/study.json``: its config and, per finished step, the command and time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError

STATE = "study.json"


def load_state(out: Path) -> dict[str, Any]:
    """``OUT/study.json`` (``{}`` if there is none)."""
    path = out / STATE
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as err:
        raise InputError(f"{str(path)!r} is unreadable ({err}); move it away to restart") from err


def save_state(out: Path, state: dict[str, Any]) -> None:
    """Write ``OUT/study.json`` atomically (temporary file + rename)."""
    tmp = out / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(out / STATE)
