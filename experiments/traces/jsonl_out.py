"""Crash-safe JSONL output: every append is a new file renamed into place.

A line is never written in place, so a killed run (even ``kill -9`` in the middle of a write)
leaves the previous complete file: no half-written line can break a reader. The cost is copying
the file once per appended batch, which is small next to generating the batch.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path


def append_lines(path: str | Path, lines: Sequence[str], *, fsync: bool = True) -> None:
    """Append ``lines`` (each without its newline) to ``path`` atomically."""
    if not lines:
        return
    target = Path(path)
    tmp = target.with_name(f".{target.name}.partial")
    with tmp.open("wb") as out:
        if target.exists():
            with target.open("rb") as old:
                shutil.copyfileobj(old, out)
        out.write("".join(line + "\n" for line in lines).encode("utf-8"))
        out.flush()
        if fsync:
            os.fsync(out.fileno())
    os.replace(tmp, target)
