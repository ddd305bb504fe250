"""Layout of the HDF5 activation store (documented for humans in SCHEMA.md).

Everything is plain HDF5: a reader needs nothing but h5py. Row ``i`` of every per-token array and of
every activation dataset refers to the same token.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 1

TOKEN_IDS: Final = "tokens/ids"
"""int32 [n_tokens]: token ids of all sequences, concatenated (no padding is ever stored)."""
TOKEN_SEQ: Final = "tokens/seq_index"
"""int32 [n_tokens]: index of the sequence each token belongs to."""
TOKEN_POS: Final = "tokens/position"
"""int32 [n_tokens]: position of each token inside its sequence (0 = first token)."""
SEQ_OFFSETS: Final = "sequences/offsets"
"""int64 [n_sequences + 1]: sequence ``s`` is rows ``offsets[s]:offsets[s+1]``."""
SEQ_IDS: Final = "sequences/trace_id"
"""utf-8 strings [n_sequences]: the source trace or document id of each sequence."""
ACTIVATIONS: Final = "activations"
"""Group of one group per model: ``activations/<model>/<hook>`` is [n_tokens, d_model]."""
COMMITTED: Final = "committed"
"""Group of scalar int64 counters: ``committed/<model>`` rows are complete for every hook of it."""
LABELS: Final = "labels"
"""Group of per-token label arrays ``labels/<name>`` of shape [n_tokens]."""

FLOAT16_MAX: Final = 65504.0
STORE_DTYPES: Final = ("float16", "float32")
COMPRESSIONS: Final = ("none", "lzf", "gzip")


def activation_path(model: str, hook: str) -> str:
    return f"{ACTIVATIONS}/{model}/{hook}"


def committed_path(model: str) -> str:
    return f"{COMMITTED}/{model}"


def label_path(name: str) -> str:
    return f"{LABELS}/{name}"


def check_model_key(key: str) -> str:
    """A model key names a group: letters, digits, '-', '_', '.' only."""
    from activation_store.core.errors import InputError

    if not key or any(not (c.isalnum() or c in "-_.") for c in key) or key.startswith("."):
        raise InputError(
            f"model name {key!r} is not usable as a store key; use letters, digits, '-', '_' or '.'"
        )
    return key
