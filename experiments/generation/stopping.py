"""Which tokens end a row, and a stopping criterion that records why and when each row ended."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from transformers import StoppingCriteria

from experiments.generation.answers import THINK_END, answer_finished, opens_thinking

FinishReason = Literal["eos", "think_end", "answer", "length"]
ANSWER_WINDOW = 48
"""Generated tokens decoded (after the thinking closed) to look for a finished answer statement."""


@dataclass(frozen=True)
class StopRule:
    """Token ids (and possibly a multi-token string) that end generation, with their reason."""

    token_reasons: Mapping[int, FinishReason]
    """Token id → reason: every EOS id of the tokenizer and model, and "</think>" if one token."""
    think_text: str | None
    """"</think>" when it is not a single token (then the decoded tail is checked each step)."""
    think_window: int
    """Generated tokens decoded to look for ``think_text``."""
    answer: bool = False
    """Also stop a row once it has stated its final answer (see :class:`AnswerWatch`)."""
    close_window: int = 0
    """Generated tokens decoded to see the thinking close (``</think>``'s length + 2)."""

    @property
    def eos_ids(self) -> list[int]:
        return sorted(t for t, r in self.token_reasons.items() if r == "eos")


def stop_rule(
    tokenizer: Any, hf_model: Any, *, stop_at_think_end: bool, stop_at_answer: bool = False
) -> StopRule:
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
    pieces = tokenizer.encode(THINK_END, add_special_tokens=False)
    if stop_at_think_end:
        if len(pieces) == 1:
            reasons.setdefault(int(pieces[0]), "think_end")
        else:
            think_text, window = THINK_END, len(pieces) + 2
    return StopRule(
        token_reasons=reasons,
        think_text=think_text,
        think_window=window,
        answer=stop_at_answer,
        close_window=len(pieces) + 2,
    )


class AnswerWatch:
    """Watches one row for a finished final-answer statement (a rule with ``answer`` only).

    ``thinking``: the row's prompt left the model thinking, so its answer counts only after it
    emits ``</think>`` (:mod:`experiments.generation.answers`). Each step decodes a few tokens: the
    last ``close_window`` while the thinking is open, then at most the last
    :data:`ANSWER_WINDOW` since it closed.
    """

    def __init__(self, rule: StopRule, decode: Callable[[list[int]], str], *, thinking: bool):
        self.rule, self.decode = rule, decode
        self.since: int | None = None if thinking else 0
        """Index of the first generated token after the thinking closed (None: still open)."""

    def done(self, generated: list[int]) -> bool:
        """Whether ``generated`` (the row's tokens so far) has finished stating its answer."""
        if not self.rule.answer:
            return False
        n = len(generated)
        if self.since is None:
            if THINK_END not in self.decode(generated[-self.rule.close_window :]):
                return False
            self.since = n
            return False
        tail = self.decode(generated[max(self.since, n - ANSWER_WINDOW) :])
        return answer_finished(tail, thinking=False)


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
        self.watches: list[AnswerWatch] | None = None

    def __call__(
        self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        n_generated = input_ids.shape[1] - self.prompt_len
        last = input_ids[:, -1].tolist()
        if self.rule.answer and self.watches is None:
            self.watches = [
                AnswerWatch(self.rule, self.decode, thinking=opens_thinking(self.decode(row)))
                for row in input_ids[:, max(0, self.prompt_len - 32) : self.prompt_len].tolist()
            ]
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
            generated = input_ids[b, self.prompt_len :].tolist()
            if reason is None and self.watches is not None and self.watches[b].done(generated):
                reason = "answer"
            if reason is not None:
                self.finished[b] = (n_generated, reason)
        if self.on_step is not None:
            self.on_step(active)
        done = [f is not None for f in self.finished]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
