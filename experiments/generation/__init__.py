"""`experiments.generation`: the toolkit's one batched generation engine.

>>> from activation_store.models import ModelConfig, load_hf_model
>>> from experiments.generation import GenerationConfig, generate
>>> hf_model, tokenizer = load_hf_model(ModelConfig(model="tiny-llama"))
>>> outs = generate(hf_model, tokenizer, [[0, 5, 9], [0, 7]], GenerationConfig(max_new_tokens=16))
>>> outs[0].generated_ids, outs[0].text, outs[0].finish_reason   # "eos" | "think_end" | "length"

Batched, left-padded, KV-cached decoding on a plain Hugging Face model (greedy, or sampled with
temperature/top-p from one seeded stream per prompt); results in prompt order. Steering hooks are
installed by the caller around :func:`generate` (see :mod:`experiments.generation.engine`).

:func:`stream` (and :func:`generate_continuous`) is the continuous-batching engine: one decode loop
over the KV cache where finished rows leave and waiting prompts join, with the same tokens as
:func:`generate`, and a per-forward callback so that rows of different conditions can be steered
differently in one batch (:mod:`experiments.generation.continuous`).
Torch loads only when :func:`generate` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from activation_store.core.lazy import lazy_exports
from experiments.generation.config import GenerationConfig, GenerationConfigError

if TYPE_CHECKING:
    from experiments.generation.continuous import generate_continuous, stream
    from experiments.generation.engine import Generation, generate, left_pad
    from experiments.generation.stopping import FinishReason

_LAZY = {
    "Generation": ".engine",
    "generate": ".engine",
    "left_pad": ".engine",
    "FinishReason": ".stopping",
    "generate_continuous": ".continuous",
    "stream": ".continuous",
}

__all__ = [
    "FinishReason",
    "Generation",
    "GenerationConfig",
    "GenerationConfigError",
    "generate",
    "generate_continuous",
    "left_pad",
    "stream",
]


__getattr__ = lazy_exports(__name__, _LAZY, globals())
