"""`activation_store`: the model layer and the HDF5 activation store every other package reads.

Public names are imported lazily so that ``backtrack --help`` does not pay for torch or h5py.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ActivationStore": "activation_store.reader",
    "Batch": "activation_store.reader",
    "ActivationWriter": "activation_store.writer",
    "CacheConfig": "activation_store.cache_config",
    "cache_activations": "activation_store.capture",
    "create_store": "activation_store.create",
    "EventWindows": "activation_store.events",
    "parse_offsets": "activation_store.events",
    "write_label": "activation_store.labels",
    "TokenTable": "activation_store.tokens",
    "load_token_file": "activation_store.token_input",
    "store_info": "activation_store.info",
    "ToolkitError": "activation_store.errors",
    "StoreError": "activation_store.errors",
    "InputError": "activation_store.errors",
    "ModelLoadError": "activation_store.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'activation_store' has no attribute {name!r}")
