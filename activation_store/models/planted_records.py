"""The planted record of a model, if it has one: what the findings grade the pipeline against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activation_store.models.planted import RECORD_DIR, RECORD_FILE, read_record

TINY_SPECS = {"tiny-llama-planted-single": "single", "tiny-llama-planted-null": "null"}
"""Tiny planted specs, whose records are calibrated at load time."""


def planted_record(model: str) -> dict[str, Any] | None:
    """The planted record of a model spec name or local directory, or None if it has none."""
    if model in TINY_SPECS:
        from activation_store.models.planted_tiny import tiny_record

        return tiny_record(TINY_SPECS[model])
    shipped = RECORD_DIR / f"{model}.json"
    if "/" not in model and shipped.is_file():
        return read_record(shipped)
    local = Path(model).expanduser() / RECORD_FILE
    return read_record(local) if local.is_file() else None
