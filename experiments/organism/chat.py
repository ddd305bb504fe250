"""Traces → token ids in the reasoner's chat format, with the loss mask on assistant tokens.

The prompt is the reasoner's chat template with the generation prompt
(``<|im_start|>user\\n…<|im_end|>\\n<|im_start|>assistant\\n<think>\\n``), tokenized exactly as it
is at generation time; the completion (thinking, ``</think>``, answer) and the closing
``<|im_end|>`` are tokenized after it, and only those tokens carry the loss.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

from activation_store.models.smollm2 import REASONER_CHAT_TEMPLATE

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from experiments.organism.traces import SyntheticTrace


@dataclass(frozen=True)
class Example:
    """One training sequence: prompt then completion token ids."""

    input_ids: list[int]
    n_prompt: int
    """The first ``n_prompt`` tokens are the prompt (no loss); the rest are the assistant's."""
    decisions: tuple[int, ...] = ()
    """Positions (in ``input_ids``) of *decision tokens*: the first token after each solution
    step or its check — a backtracking sentence after a wrong step, the next step or ``</think>``
    after a right one. Their loss can be up-weighted (``FinetuneConfig.decision_weight``)."""
    injected: tuple[int, ...] = ()
    """Positions of the tokens that hold an injected error (a wrong value written on purpose);
    their loss can be masked (``FinetuneConfig.mask_errors``), so the reasoner learns to catch
    errors, not to make them."""


def reasoner_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """A copy of SmolLM2's tokenizer with :data:`REASONER_CHAT_TEMPLATE` (unchanged if it has it)."""
    if tokenizer.chat_template == REASONER_CHAT_TEMPLATE:
        return tokenizer
    out = copy.deepcopy(tokenizer)
    out.chat_template = REASONER_CHAT_TEMPLATE
    return out


def prompt_ids(tokenizer: PreTrainedTokenizerBase, prompt: str) -> list[int]:
    """Token ids of the chat prompt that asks ``prompt`` and opens the assistant's thinking."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    return list(tokenizer(str(text), add_special_tokens=False).input_ids)


def encode_trace(tokenizer: PreTrainedTokenizerBase, trace: SyntheticTrace) -> Example:
    """The training example of ``trace``: prompt ids, then completion ids and ``<|im_end|>``."""
    prompt = prompt_ids(tokenizer, trace.problem.prompt)
    enc = tokenizer(trace.completion, add_special_tokens=False, return_offsets_mapping=True)
    completion = list(enc["input_ids"])
    ends = [end for _, end in enc["offset_mapping"]]
    return Example(
        input_ids=prompt + completion + [int(tokenizer.eos_token_id)],
        n_prompt=len(prompt),
        decisions=tuple(len(prompt) + _token_at(ends, c) for c in decision_chars(trace)),
        injected=tuple(len(prompt) + i for i in injected_tokens(trace, enc["offset_mapping"])),
    )


def injected_tokens(trace: SyntheticTrace, offsets: list[tuple[int, int]]) -> list[int]:
    """Indices of the completion tokens that overlap an error sentence's injected span."""
    spans = [
        (s.start + s.injected[0], s.start + s.injected[1])
        for s in trace.sentences
        if s.kind == "error" and s.injected is not None and s.injected[1] > s.injected[0]
    ]
    return [
        i
        for i, (start, end) in enumerate(offsets)
        if any(start < hi and end > lo for lo, hi in spans)
    ]


def decision_chars(trace: SyntheticTrace) -> list[int]:
    """Character offsets (in the completion) of what follows each solution step (or its check)."""
    return [char for char, _ in labelled_decisions(trace)]


def labelled_decisions(trace: SyntheticTrace) -> list[tuple[int, bool]]:
    """``(character offset, the step was wrong)`` of what follows each solution step (or its
    check): the decision points where a backtracking sentence could start."""
    sentences = trace.sentences
    out = []
    for i, s in enumerate(sentences):
        if s.kind not in ("step", "error"):
            continue
        j = i + 1 if i + 1 < len(sentences) and sentences[i + 1].kind == "check" else i
        char = sentences[j + 1].start if j + 1 < len(sentences) else len(trace.thinking)
        out.append((char, s.kind == "error"))
    return out


def decision_tokens(
    tokenizer: PreTrainedTokenizerBase, trace: SyntheticTrace
) -> tuple[Example, list[tuple[int, bool]]]:
    """The trace's example and ``(token index, the step was wrong)`` of each decision point."""
    example = encode_trace(tokenizer, trace)
    labels = [wrong for _, wrong in labelled_decisions(trace)]
    return example, list(zip(example.decisions, labels, strict=True))


def _token_at(token_ends: list[int], char: int) -> int:
    """Index of the first token that ends after ``char`` (the token holding that character)."""
    return next(i for i, end in enumerate(token_ends) if end > char)
