"""Which prompts to trace and how to present them to the model (light: no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from activation_store.core.errors import InputError
from experiments.generation.config import Engine


class TraceConfigError(InputError, ValueError):
    """A :class:`TraceConfig` field has an invalid value."""


@dataclass(frozen=True, kw_only=True)
class TraceConfig:
    """The prompts of a trace run and their presentation."""

    prompts: str = "reasoning-v1"
    """Built-in prompt set name or a JSONL file ({"id", "prompt", "category"?, "answer"?})."""
    split: Literal["all", "derivation", "evaluation"] = "all"
    """Which split of the prompt set to trace."""
    categories: tuple[str, ...] = ()
    """Categories to keep (empty: all)."""
    limit: int | None = None
    """Trace only N of the selected prompts, chosen by ``selection`` (None: all)."""
    selection: Literal["stratified", "first"] = "stratified"
    """How ``limit`` prompts are chosen: stratified (the same share of every category, seeded by
    ``selection_seed``) or first (in file order)."""
    selection_seed: int = 0
    """Seed of the stratified selection."""
    chat_template: Literal["auto", "on", "off"] = "auto"
    """Wrap prompts with the tokenizer's chat template (R1-distill: "<|User|>…<|Assistant|><think>\\n"):
    auto = when the tokenizer has one, on = require it, off = plain text (base models)."""
    plain_template: str = "Question: {prompt}\nAnswer:"
    """Text given to models without a chat template; {prompt} is replaced by the question. The
    whole continuation then counts as the thinking text."""
    engine: Engine = "hf"
    """Generation engine: hf (our batched engine on the Hugging Face model) or vllm (the optional
    extra backtrack-toolkit[vllm]; greedy traces are the hf engine's tokens, sampled ones are
    reproducible per prompt but come from vLLM's sampler). Recorded with every trace: a file is
    only continued with the engine that began it."""

    def __post_init__(self) -> None:
        if "{prompt}" not in self.plain_template:
            raise TraceConfigError(
                f"plain_template={self.plain_template!r} must contain {{prompt}} where the question goes"
            )
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise TraceConfigError(f"limit={self.limit!r} must be a positive integer or None")
        if not self.prompts:
            raise TraceConfigError("prompts is empty; give a built-in set name or a JSONL path")
        if self.engine not in get_args(Engine):
            raise TraceConfigError(f"engine={self.engine!r}: use hf or vllm")
