"""Configuration of a caching run (light: no torch import, so the CLI can build --help fast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from activation_store.core.errors import InputError
from activation_store.schema import check_model_key

ResumeMode = Literal["new", "resume", "overwrite"]


@dataclass(frozen=True, kw_only=True)
class CacheConfig:
    """How to cache activations into a store."""

    hooks: tuple[str, ...]
    """TransformerLens hook names to cache, e.g. blocks.6.hook_resid_post,blocks.10.hook_resid_post."""
    name: str | None = None
    """Key of this model inside the store (default: the model spec's last path component)."""
    batch_tokens: int = 4096
    """Most padded tokens in one forward batch."""
    max_batch_size: int = 64
    """Most sequences in one forward batch."""
    store_dtype: Literal["float16", "float32"] = "float16"
    """dtype on disk; float16 refuses activations beyond ±65504 (then use float32)."""
    compression: Literal["none", "lzf", "gzip"] = "none"
    """HDF5 compression; none is the benchmarked default (see SCHEMA.md)."""
    resume: bool = False
    """Continue a model entry that an earlier (maybe killed) run left incomplete."""
    overwrite: bool = False
    """Recompute this model's entry (or rebuild a store whose tokens differ)."""
    queue_size: int = 4
    """Batches waiting for the writer thread at most (bounds host memory)."""
    writer_thread: Literal["auto", "on", "off"] = "auto"
    """Write on a background thread beside the forward pass: auto = on for CUDA, off on CPU (where the
    forward already uses every core and a writer thread slows OpenMP down more than it saves)."""
    fsync: bool = False
    """fsync each batch before committing it (survives power loss, not just a killed process)."""
    capture: Literal["hf", "transformer_lens"] = "hf"
    """How activations are taken: hf = forward hooks on the Hugging Face modules (weights loaded
    straight to the device, no conversion); transformer_lens = the converted HookedTransformer's
    hooks (the older path; same tensors, another weights fingerprint, so resume with the path a
    store was started with)."""

    def __post_init__(self) -> None:
        if not self.hooks:
            raise InputError("no hooks given; pass e.g. --hooks blocks.10.hook_resid_post")
        if len(set(self.hooks)) != len(self.hooks):
            raise InputError(f"hooks {','.join(self.hooks)} contain duplicates; list each once")
        if self.resume and self.overwrite:
            raise InputError("--resume and --overwrite exclude each other; choose one")
        if self.batch_tokens < 1 or self.max_batch_size < 1 or self.queue_size < 1:
            raise InputError("batch_tokens, max_batch_size and queue_size must be ≥ 1")
        if self.name is not None:
            check_model_key(self.name)

    @property
    def mode(self) -> ResumeMode:
        return "resume" if self.resume else "overwrite" if self.overwrite else "new"
