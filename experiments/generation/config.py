"""How to generate: length, greedy or sampled, seed, batch size, stopping (light: no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from activation_store.core.errors import InputError

Engine = Literal["hf", "vllm"]
"""Generation engines: hf (our engine on the plain Hugging Face model) or vllm (the optional extra
backtrack-toolkit[vllm], :mod:`experiments.generation.vllm_engine`)."""


class GenerationConfigError(InputError, ValueError):
    """A :class:`GenerationConfig` field has an invalid value (a ``ValueError`` and a CLI error)."""


@dataclass(frozen=True, kw_only=True)
class GenerationConfig:
    """Decoding settings shared by trace generation and steering runs."""

    max_new_tokens: int = 512
    """Most tokens generated per prompt (the paper's traces use ~1000)."""
    temperature: float = 0.0
    """0 → greedy decoding; > 0 → sampling at this temperature."""
    top_p: float = 1.0
    """Nucleus sampling: sample from the smallest set of tokens whose probability reaches top_p
    (1 → the whole vocabulary). Only used when temperature > 0."""
    seed: int = 0
    """Sampling seed. Each prompt gets its own random stream derived from this seed and the prompt's
    tokens, so a prompt's sample does not depend on the batch it lands in (or on resuming)."""
    batch_size: int = 16
    """Prompts decoded together (left-padded, one KV cache)."""
    stop_at_think_end: bool = True
    """A row also stops after emitting "</think>"; EOS always stops it."""
    stop_at_answer: bool = False
    """A row also stops once it has stated its final answer ("answer is X" ended by a line break
    or full stop, or \\boxed{X}; after "</think>" when the prompt left the model thinking), so
    answer accuracy can be measured without decoding past it. Needs stop_at_think_end = false
    (that would stop before the answer)."""

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GenerationConfigError(f"{name}={value!r} must be a positive integer")
        if not isinstance(self.temperature, (int, float)) or not self.temperature >= 0:
            raise GenerationConfigError(
                f"temperature={self.temperature!r} must be ≥ 0 (0 means greedy decoding)"
            )
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise GenerationConfigError(f"top_p={self.top_p!r} must be in (0, 1]")
        if self.stop_at_answer and self.stop_at_think_end:
            raise GenerationConfigError(
                "stop_at_answer stops after the answer line, but stop_at_think_end stops before "
                "it; set stop_at_think_end = false"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GenerationConfigError(f"seed={self.seed!r} must be a non-negative integer")

    @property
    def greedy(self) -> bool:
        """Whether decoding is greedy (temperature 0)."""
        return self.temperature == 0
