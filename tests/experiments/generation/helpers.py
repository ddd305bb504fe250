"""Scripted generation: make a real tiny model emit chosen tokens, through a forward hook.

The hook adds a large logit to the next scripted token of each row at the last position of every
forward call, so ``generate`` runs its real code path (left padding, KV cache, stopping) while the
output is known in advance.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch


@contextlib.contextmanager
def scripted(
    hf_model: Any, scripts: Sequence[Sequence[int]], *, boost: float = 1e4
) -> Iterator[list[int]]:
    """Row ``b`` of each batch emits ``scripts[b % len(scripts)]``, then whatever the model likes.

    Yields a list that records the input length of every forward call (a batch's prefill first;
    prompts must be longer than one token).
    """
    calls: list[int] = []
    step = {"n": 0}

    def see_inputs(module: Any, args: Any) -> None:
        if args[0].shape[1] > 1:
            step["n"] = 0  # a new batch starts with its prompt
        calls.append(int(args[0].shape[1]))

    def hook(module: Any, args: Any, output: Any) -> Any:
        logits = output.clone()
        for b in range(logits.shape[0]):
            script = scripts[b % len(scripts)]
            if step["n"] < len(script):
                logits[b, -1, script[step["n"]]] += boost
        step["n"] += 1
        return logits

    handles = [
        hf_model.model.embed_tokens.register_forward_pre_hook(see_inputs),
        hf_model.lm_head.register_forward_hook(hook),
    ]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def greedy_oracle(hf_model: Any, prompt: Sequence[int], n: int) -> list[int]:
    """Greedy continuation by full forward passes, no cache, no padding."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            ids.append(
                int(hf_model(torch.tensor([ids], device=hf_model.device)).logits[0, -1].argmax())
            )
    return ids[len(prompt) :]
