"""A summary of what a store holds (``backtrack store info``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from activation_store import schema
from activation_store.h5io import check_store_file, damage_as_store_error, open_store_file


def store_info(path: str | Path) -> dict[str, Any]:
    """Sizes, models, hooks, committed rows and labels of a store, as plain JSON-able values."""
    path = Path(path)
    with open_store_file(path, "r") as f, damage_as_store_error(path):
        check_store_file(f, path)
        info: dict[str, Any] = {
            "path": str(path),
            "file_mb": path.stat().st_blocks * 512 / 1e6,
            "schema_version": int(f.attrs["schema_version"]),
            "toolkit_version": str(f.attrs["toolkit_version"]),
            "created": str(f.attrs["created"]),
            "n_tokens": int(f.attrs["n_tokens"]),
            "n_sequences": int(f.attrs["n_sequences"]),
            "tokenizer_id": str(f.attrs["tokenizer_id"]),
            "models": {},
            "labels": {},
        }
        for name, group in f[schema.ACTIVATIONS].items():
            attrs = {k: _plain(v) for k, v in group.attrs.items()}
            attrs["committed_rows"] = int(f[schema.committed_path(name)][()])
            attrs["hooks"] = {
                hook: {
                    "shape": list(ds.shape),
                    "mb": ds.size * ds.dtype.itemsize / 1e6,
                    "meaning": str(ds.attrs.get("meaning", "")),
                    "hf_module": str(ds.attrs.get("hf_module", "")),
                }
                for hook, ds in group.items()
            }
            info["models"][name] = attrs
        for name, ds in f[schema.LABELS].items():
            values = ds[()]
            info["labels"][name] = {
                "dtype": str(ds.dtype),
                "nonzero": int(np.count_nonzero(values)),
                **{k: _plain(v) for k, v in ds.attrs.items()},
            }
    return info


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value
