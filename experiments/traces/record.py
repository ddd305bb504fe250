"""One reasoning trace: the JSONL line ``backtrack traces`` writes and later steps read.

Keys (``format`` 1): ``id`` (the trace id = the prompt id), ``prompt_id``, ``model_id``,
``category``, ``answer``, ``split``, ``prompt`` (the question), ``chat_template`` (whether the
tokenizer's chat template wrapped it), ``settings`` (generation and prompting settings),
``text`` (decoded prompt + generation, special tokens kept), ``generation_start`` (char offset in
``text`` where the generation begins), ``thinking_span`` (``[start, end)`` chars of the thinking
text), ``thinking_closed`` (whether ``</think>`` ended it), ``finish_reason``, ``n_prompt_tokens``,
``token_ids`` (prompt + generation) and ``token_offsets`` (``[start, end)`` chars of every token,
see :mod:`experiments.traces.offsets`). ``backtrack cache --tokens`` reads ``id`` and
``token_ids``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError
from activation_store.token_input import iter_jsonl

FORMAT = 1
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True, kw_only=True)
class Trace:
    """A reasoning trace with everything needed to label it at token level."""

    id: str
    """Trace id (the prompt id); the activation store's sequence id."""
    prompt_id: str
    model_id: str
    """Spec name or local directory of the model that generated it."""
    prompt: str
    """The question (before any chat template)."""
    category: str | None
    answer: int | str | None
    split: str | None
    chat_template: bool
    """Whether the prompt was wrapped by the tokenizer's chat template."""
    settings: Mapping[str, Any]
    """Generation and prompting settings (equal for every line of one file)."""
    text: str
    """Decoded prompt + generation (special tokens kept)."""
    generation_start: int
    """Char offset in ``text`` where the generated text begins."""
    thinking_span: tuple[int, int]
    """``[start, end)`` chars of the thinking text in ``text``."""
    thinking_closed: bool
    """Whether "</think>" ended the thinking (False: cut by EOS or the token limit)."""
    finish_reason: str
    n_prompt_tokens: int
    token_ids: tuple[int, ...]
    """Prompt + generated token ids, as the model saw them."""
    token_offsets: tuple[tuple[int, int], ...]
    """``[start, end)`` chars of each token in ``text``."""

    @property
    def thinking_text(self) -> str:
        return self.text[self.thinking_span[0] : self.thinking_span[1]]

    @property
    def generated_ids(self) -> tuple[int, ...]:
        return self.token_ids[self.n_prompt_tokens :]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "format": FORMAT,
            "prompt_id": self.prompt_id,
            "model_id": self.model_id,
            "category": self.category,
            "answer": self.answer,
            "split": self.split,
            "prompt": self.prompt,
            "chat_template": self.chat_template,
            "settings": dict(self.settings),
            "finish_reason": self.finish_reason,
            "text": self.text,
            "generation_start": self.generation_start,
            "thinking_span": list(self.thinking_span),
            "thinking_closed": self.thinking_closed,
            "n_prompt_tokens": self.n_prompt_tokens,
            "token_ids": list(self.token_ids),
            "token_offsets": [list(span) for span in self.token_offsets],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], where: str = "trace") -> Trace:
        """Parse a line; a missing or ill-typed key raises :class:`InputError` naming ``where``."""
        try:
            trace = cls(
                id=str(obj["id"]),
                prompt_id=str(obj["prompt_id"]),
                model_id=str(obj["model_id"]),
                prompt=str(obj["prompt"]),
                category=obj.get("category"),
                answer=obj.get("answer"),
                split=obj.get("split"),
                chat_template=bool(obj["chat_template"]),
                settings=dict(obj["settings"]),
                text=str(obj["text"]),
                generation_start=int(obj["generation_start"]),
                thinking_span=(int(obj["thinking_span"][0]), int(obj["thinking_span"][1])),
                thinking_closed=bool(obj["thinking_closed"]),
                finish_reason=str(obj["finish_reason"]),
                n_prompt_tokens=int(obj["n_prompt_tokens"]),
                token_ids=tuple(int(t) for t in obj["token_ids"]),
                token_offsets=tuple((int(a), int(b)) for a, b in obj["token_offsets"]),
            )
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise InputError(
                f"{where}: not a trace line ({type(err).__name__}: {err}); write traces with "
                "`backtrack traces`"
            ) from err
        trace.check(where)
        return trace

    def check(self, where: str = "trace") -> None:
        """Consistency of offsets, spans and token ids (raises :class:`InputError`)."""
        n = len(self.token_ids)
        if len(self.token_offsets) != n:
            raise InputError(
                f"{where}: {len(self.token_offsets)} token_offsets for {n} token_ids; the line is corrupt"
            )
        if any(not 0 <= a <= b <= len(self.text) for a, b in self.token_offsets):
            raise InputError(f"{where}: token_offsets point outside the text; the line is corrupt")
        start, end = self.thinking_span
        if not 0 <= start <= end <= len(self.text):
            raise InputError(
                f"{where}: thinking_span {list(self.thinking_span)} is outside the text"
            )
        if not 0 < self.n_prompt_tokens <= n:
            raise InputError(f"{where}: n_prompt_tokens={self.n_prompt_tokens} with {n} tokens")


def thinking_span(
    text: str, generation_start: int, generation_end: int | None = None
) -> tuple[int, int, bool]:
    """``(start, end, closed)`` of the thinking text in ``text``.

    It starts after the last "<think>" of the prompt (R1-distill templates end with it), else after
    the first "<think>" the model writes, else where the generation starts (base models: all of the
    generation is the reasoning). It ends at the first "</think>" after that, else at
    ``generation_end`` (default: the end of the text; pass the start of a final EOS token so that
    its text, e.g. "<|im_end|>", is not reasoning).
    """
    limit = len(text) if generation_end is None else generation_end
    opened = text.rfind(THINK_OPEN, 0, generation_start)
    if opened < 0:
        opened = text.find(THINK_OPEN, generation_start)
    start = opened + len(THINK_OPEN) if opened >= 0 else generation_start
    closed_at = text.find(THINK_CLOSE, start, limit)
    if closed_at < 0:
        return start, max(start, limit), False
    return start, closed_at, True


def iter_traces(path: str | Path) -> Iterator[Trace]:
    """Traces of a JSONL file, in file order; bad lines raise naming file and line."""
    for line, obj in iter_jsonl(path):
        yield Trace.from_json(obj, f"{path}:{line}")


def read_traces(path: str | Path) -> list[Trace]:
    """All traces of a file; an empty file or a repeated id is an :class:`InputError`."""
    traces = list(iter_traces(path))
    if not traces:
        raise InputError(f"{path}: no traces; generate them with `backtrack traces`")
    seen: set[str] = set()
    for trace in traces:
        if trace.id in seen:
            raise InputError(f"{path}: trace id {trace.id!r} appears twice; ids must be unique")
        seen.add(trace.id)
    return traces
