"""Helpers shared by the benchmarks: a text corpus that ships with Python, timing, peak RSS, JSON."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def corpus_texts(min_chars: int = 400) -> Iterator[str]:
    """English prose that ships with every Python: docstrings of the standard library, in a
    fixed order. Real text gives real activation statistics (unlike random token ids)."""
    import ast

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= min_chars:
                    yield " ".join(doc.split())


def corpus_token_sequences(tokenizer: Any, n_seq: int, seq_len: int) -> list[list[int]]:
    """``n_seq`` windows of exactly ``seq_len`` tokens cut from the corpus."""
    stream: list[int] = []
    out: list[list[int]] = []
    for text in corpus_texts():
        stream.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        while len(stream) >= seq_len:
            out.append(stream[:seq_len])
            stream = stream[seq_len:]
            if len(out) == n_seq:
                return out
    while len(out) < n_seq:  # the corpus is finite: reuse it
        out.append(out[len(out) % max(1, len(out))])
    return out


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB.

    On Linux from ``VmHWM`` (/proc/self/status): the high-water mark of this process's own
    memory. ``ru_maxrss`` is not that in a process started by ``subprocess``: Linux carries the
    forking parent's high-water mark across ``exec``, so a child of a process holding two models
    reports the parent's peak whatever it does itself."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    return p


def write_json(path: Path | None, figures: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        print(f"figures written to {path}")


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
