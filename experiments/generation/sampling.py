"""Sampling with one random stream per prompt, so a sample does not depend on its batch.

HF's sampler draws all rows from one global generator: a prompt's sample then changes with the
batch it is decoded in, and a resumed run differs from an uninterrupted one. :class:`RowSampler`
is a logits processor that samples each row from its own ``torch.Generator`` (temperature, then
top-p) and returns logits that are ``-inf`` except at the drawn token, so HF's greedy step picks it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor
from transformers import LogitsProcessor


def row_seeds(seed: int, prompts: Sequence[Sequence[int]]) -> list[int]:
    """A seed per prompt from ``seed``, the prompt's tokens, and how often they occurred before.

    Equal prompts in one call get different streams (occurrence 0, 1, …).
    """
    seen: Counter[bytes] = Counter()
    out = []
    for prompt in prompts:
        key = hashlib.sha256(",".join(map(str, prompt)).encode()).digest()
        occurrence = seen[key]
        seen[key] += 1
        digest = hashlib.sha256(f"{seed}:{occurrence}:".encode() + key).digest()
        out.append(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
    return out


def nucleus_probs(
    logits_BV: Float[Tensor, "batch vocab"], temperature: float, top_p: float
) -> Float[Tensor, "batch vocab"]:
    """Softmax at ``temperature``, restricted to the top-p nucleus and renormalized (float32)."""
    probs_BV = torch.softmax(logits_BV.float() / temperature, dim=-1)
    if top_p >= 1.0:
        return probs_BV
    sorted_BV, order_BV = probs_BV.sort(dim=-1, descending=True)
    # Keep a token while the mass strictly before it is below top_p (the top token always stays).
    before_BV = sorted_BV.cumsum(dim=-1) - sorted_BV
    sorted_BV = sorted_BV.masked_fill(before_BV >= top_p, 0.0)
    kept_BV = torch.zeros_like(probs_BV).scatter(-1, order_BV, sorted_BV)
    return kept_BV / kept_BV.sum(dim=-1, keepdim=True)


class RowSampler(LogitsProcessor):
    """Draws row ``b`` from ``generators[b]``; returns one-hot (0 / -inf) logits of the draws."""

    def __init__(
        self, seeds: Sequence[int], *, temperature: float, top_p: float, device: torch.device
    ) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature={temperature} must be > 0 for sampling")
        self.temperature = temperature
        self.top_p = top_p
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

    def __call__(
        self, input_ids: torch.LongTensor, scores: Float[Tensor, "batch vocab"]
    ) -> Float[Tensor, "batch vocab"]:
        probs_BV = nucleus_probs(scores, self.temperature, self.top_p)
        drawn_B = torch.cat(
            [torch.multinomial(probs_BV[b], 1, generator=g) for b, g in enumerate(self.generators)]
        )
        out_BV = torch.full_like(scores, float("-inf"))
        out_BV.scatter_(-1, drawn_B[:, None], 0.0)
        return out_BV
