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
    )


def decision_chars(trace: SyntheticTrace) -> list[int]:
    """Character offsets (in the completion) of what follows each solution step (or its check)."""
    sentences = trace.sentences
    out = []
    for i, s in enumerate(sentences):
        if s.kind not in ("step", "error"):
            continue
        j = i + 1 if i + 1 < len(sentences) and sentences[i + 1].kind == "check" else i
        out.append(sentences[j + 1].start if j + 1 < len(sentences) else len(trace.thinking))
    return out


def _token_at(token_ends: list[int], char: int) -> int:
    """Index of the first token that ends after ``char`` (the token holding that character)."""
    return next(i for i, end in enumerate(token_ends) if end > char)
