"""`activation_store`: the ground floor — the HDF5 activation store, the model layer, and what
every package shares.

- the store, in this folder: ``schema`` (the layout, see SCHEMA.md), ``create`` / ``writer`` /
  ``capture`` (caching a model's activations, crash-safe), ``reader`` (:class:`ActivationStore`),
  ``events`` and ``labels`` (token labels, windows around events), ``tokens`` / ``token_input``
  (the token table and the files it is read from), ``info`` and ``cli`` (``backtrack cache``,
  ``backtrack store info``);
- ``direction``: :class:`Direction`, the currency between the study's steps, and its file format;
- ``models/``: spec names and local checkpoints → Hugging Face or TransformerLens models, and the
  one parser of hook names (``models/hooks.py``);
- ``core/``: what knows nothing of stores or models — one-line errors, configs as API/TOML/CLI,
  statistics, lazy exports, thread pools.

Public names are imported lazily so that ``backtrack --help`` does not pay for torch or h5py.
"""

from __future__ import annotations

from activation_store.core.lazy import lazy_exports

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
    "Direction": "activation_store.direction",
    "load_direction": "activation_store.direction",
    "load_directions": "activation_store.direction",
    "save_direction": "activation_store.direction",
    "ToolkitError": "activation_store.core.errors",
    "StoreError": "activation_store.core.errors",
    "InputError": "activation_store.core.errors",
    "ModelLoadError": "activation_store.core.errors",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
