"""`activation_store`: the model layer and the HDF5 activation store every other package reads.

Public names are imported lazily so that ``backtrack --help`` does not pay for torch or h5py.
"""

from __future__ import annotations

from activation_store.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
