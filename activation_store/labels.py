"""Writing per-token label arrays (``labels/<name>``) into a store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from activation_store import schema
from activation_store.core.errors import InputError, StoreError
from activation_store.h5io import check_store_file, open_store_file


def write_label(
    path: str | Path,
    name: str,
    values: NDArray[Any],
    *,
    attrs: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> None:
    """Store ``values`` (one entry per token row) as ``labels/<name>``.

    ``attrs`` describe the label (its meaning, the labeller, its config); non-string values are
    stored as JSON. An existing label is only replaced with ``overwrite=True``.
    """
    if not name or "/" in name or name.startswith("."):
        raise InputError(f"label name {name!r} is invalid; use e.g. backtracking_start")
    values = np.asarray(values)
    if values.dtype == bool:
        values = values.astype(np.uint8)
    if values.dtype.kind not in "iuf":
        raise InputError(f"label {name!r} must be numeric or boolean, got dtype {values.dtype}")
    with open_store_file(path, "r+") as f:
        check_store_file(f, path)
        n_tokens = int(f.attrs["n_tokens"])
        if values.shape != (n_tokens,):
            raise InputError(
                f"label {name!r} has shape {values.shape} but the store has {n_tokens} tokens"
            )
        target = schema.label_path(name)
        if target in f:
            if not overwrite:
                raise StoreError(
                    f"label {name!r} already exists in {str(path)!r}; pass overwrite=True "
                    "(--overwrite-labels) to replace it"
                )
            del f[target]
        ds = f.create_dataset(target, data=values)
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value)
