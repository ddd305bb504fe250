"""Traces with chosen thinking text, tokenized by the tiny tokenizer through the real offsets code."""

from __future__ import annotations

from typing import Any

from activation_store.models.tiny import tiny_tokenizer
from experiments.traces import Trace, thinking_span, token_char_spans
from experiments.traces.prompting import prompt_ids

THINKING = (
    "Okay, so I need 35 + 18. First, 5 + 8 = 13, carry 1.\n\n"
    "Wait, the tens give 3 + 1 + 1 = 5. Hmm… so the café sells 53.\n"
    "But wait — is that right? Let me re-check: 35 + 18 = 53. No, it is 53 indeed.\n"
    "Now the answer is 53 × 1 = 53."
)
"""Five backtracking openings (Wait, Hmm, But wait, Let me re-check, No,), non-ASCII characters."""


def make_trace(
    trace_id: str, thinking: str, *, prompt: str = "What is 35 + 18?", tok: Any = None
) -> Trace:
    tok = tok or tiny_tokenizer()
    p_ids = prompt_ids(tok, prompt, chat=True, plain_template="{prompt}")
    gen_ids = tok.encode(thinking + "</think>", add_special_tokens=False)
    decoded = token_char_spans(tok, p_ids + gen_ids)
    gen_start = decoded.spans[len(p_ids)][0]
    start, end, closed = thinking_span(decoded.text, gen_start)
    return Trace(
        id=trace_id, prompt_id=trace_id, model_id="tiny-llama", prompt=prompt, category="carry",
        answer=53, split="derivation", chat_template=True, settings={}, text=decoded.text,
        generation_start=gen_start, thinking_span=(start, end), thinking_closed=closed,
        finish_reason="think_end", n_prompt_tokens=len(p_ids), token_ids=tuple(p_ids + gen_ids),
        token_offsets=tuple(decoded.spans),
    )  # fmt: skip
