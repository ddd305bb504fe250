"""A model's tokenizer from its spec name or checkpoint directory, without loading big weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY_SPECS = ("tiny-llama", "tiny-gpt")
"""Test specs whose tokenizer is built directly."""


def load_tokenizer(name: str) -> Any | None:
    """The tokenizer of a spec name or local checkpoint directory, without loading big weights."""
    from activation_store.models.loader import known_specs

    if name in TINY_SPECS:
        from activation_store.models.tiny import tiny_tokenizer

        return tiny_tokenizer()
    if name in known_specs():
        from activation_store.models.config import ModelConfig
        from activation_store.models.loader import load_hf_model

        return load_hf_model(ModelConfig(model=name))[1]
    path = Path(name).expanduser()
    if name and path.is_dir():
        from transformers import AutoTokenizer

        from activation_store.models.offline import offline_hub

        with offline_hub():
            return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return None
