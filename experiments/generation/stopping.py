"""Which tokens end a row, and a stopping criterion that records why and when each row ended."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from transformers import StoppingCriteria

FinishReason = Literal["eos", "think_end", "length"]
THINK_END = "</think>"


@dataclass(frozen=True)
class StopRule:
    """Token ids (and possibly a multi-token string) that end generation, with their reason."""

    token_reasons: Mapping[int, FinishReason]
    """Token id → reason: every EOS id of the tokenizer and model, and "</think>" if one token."""
    think_text: str | None
    """"</think>" when it is not a single token (then the decoded tail is checked each step)."""
    think_window: int
    """Generated tokens decoded to look for ``think_text``."""

    @property
    def eos_ids(self) -> list[int]:
        return sorted(t for t, r in self.token_reasons.items() if r == "eos")


def stop_rule(tokenizer: Any, hf_model: Any, *, stop_at_think_end: bool) -> StopRule:
    """The stop tokens of ``tokenizer`` + ``hf_model``: all EOS ids (Llama-3.1 has several)."""
    eos: set[int] = set()
    for source in (
        tokenizer.eos_token_id,
        getattr(hf_model.generation_config, "eos_token_id", None),
    ):
        if isinstance(source, int):
            eos.add(source)
        elif source is not None:
            eos.update(int(t) for t in source)
    reasons: dict[int, FinishReason] = dict.fromkeys(eos, "eos")
    think_text, window = None, 0
    if stop_at_think_end:
        pieces = tokenizer.encode(THINK_END, add_special_tokens=False)
        if len(pieces) == 1:
            reasons.setdefault(int(pieces[0]), "think_end")
        else:
            think_text, window = THINK_END, len(pieces) + 2
    return StopRule(token_reasons=reasons, think_text=think_text, think_window=window)


class RowStops(StoppingCriteria):
    """Per-row stopping for one batch; ``finished[b] = (n_generated, reason)`` once row ``b`` ends."""

    def __init__(
        self,
        rule: StopRule,
        decode: Callable[[list[int]], str],
        *,
        prompt_len: int,
        batch: int,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        self.rule = rule
        self.decode = decode
        self.prompt_len = prompt_len
        self.finished: list[tuple[int, FinishReason] | None] = [None] * batch
        self.on_step = on_step

    def __call__(
        self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        n_generated = input_ids.shape[1] - self.prompt_len
        last = input_ids[:, -1].tolist()
        active = 0
        for b, token in enumerate(last):
            if self.finished[b] is not None:
                continue
            active += 1
            reason = self.rule.token_reasons.get(token)
            if reason is None and self.rule.think_text is not None:
                start = max(self.prompt_len, input_ids.shape[1] - self.rule.think_window)
                if self.rule.think_text in self.decode(input_ids[b, start:].tolist()):
                    reason = "think_end"
            if reason is not None:
                self.finished[b] = (n_generated, reason)
        if self.on_step is not None:
            self.on_step(active)
        done = [f is not None for f in self.finished]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
