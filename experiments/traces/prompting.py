"""Turning a question into prompt token ids: the chat template, or plain text for base models."""

from __future__ import annotations

from typing import Any

from activation_store.core.errors import InputError
from experiments.traces.config import TraceConfig


def uses_chat_template(tokenizer: Any, config: TraceConfig) -> bool:
    """Whether prompts are wrapped by the chat template under ``config.chat_template``."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if config.chat_template == "on" and not has_template:
        raise InputError(
            "--chat-template on, but the tokenizer has no chat template; use --chat-template off "
            "(plain prompts) or a model whose tokenizer has one"
        )
    return has_template and config.chat_template != "off"


def prompt_ids(tokenizer: Any, question: str, *, chat: bool, plain_template: str) -> list[int]:
    """Token ids of ``question`` as one user turn with the generation prompt, or as plain text.

    R1-distill templates end the generation prompt with "<think>\\n", so the model starts thinking.
    Plain text gets the tokenizer's usual special tokens (BOS for Llama).
    """
    if chat:
        out = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=True
        )
        if not isinstance(out, list):  # a BatchEncoding in newer transformers
            out = out["input_ids"]
        ids = [int(t) for t in out]
    else:
        ids = [int(t) for t in tokenizer(plain_template.replace("{prompt}", question))["input_ids"]]
    if not ids:
        raise InputError(f"prompt {question[:40]!r} tokenizes to nothing")
    return ids
