"""`experiments.traces`: reasoning traces as JSONL, with token ids and char offsets of every token.

- ``generate_traces(hf_model, tokenizer, model_id, problems, out, gen, config, overwrite=False)``
  — batched generation (:mod:`experiments.generation`), resumable, crash-safe appends.
- ``Trace`` (one line; keys documented in :mod:`experiments.traces.record`), ``read_traces(path)``,
  ``iter_traces(path)``.
- ``token_char_spans(tokenizer, ids) -> TokenText(text, spans)`` and ``thinking_span(text, start)``.
- ``TraceConfig`` (prompt set, split, chat template), the CLI ``backtrack traces``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from activation_store.core.lazy import lazy_exports
from experiments.traces.config import TraceConfig, TraceConfigError
from experiments.traces.record import Trace, iter_traces, read_traces, thinking_span

if TYPE_CHECKING:
    from experiments.traces.offsets import TokenText, token_char_spans
    from experiments.traces.run import TraceRunResult, generate_traces

_LAZY = {
    "TokenText": ".offsets",
    "token_char_spans": ".offsets",
    "TraceRunResult": ".run",
    "generate_traces": ".run",
}

__all__ = [
    "TokenText",
    "Trace",
    "TraceConfig",
    "TraceConfigError",
    "TraceRunResult",
    "generate_traces",
    "iter_traces",
    "read_traces",
    "thinking_span",
    "token_char_spans",
]


__getattr__ = lazy_exports(__name__, _LAZY, globals())
