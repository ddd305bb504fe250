"""Reading the tokens to cache from JSONL: ``{"id", "token_ids"}`` or ``{"id", "text"}`` per line.

Traces files written by ``backtrack traces`` qualify as they are (their lines carry ``id`` and
``token_ids``), so the base model can be read on exactly the reasoning model's tokens.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError
from activation_store.tokens import TokenTable


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-empty line; malformed lines raise naming both.

    Lines must be UTF-8 (a leading byte-order mark is skipped); other bytes raise naming the line
    and the byte offset in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file {str(path)!r} does not exist")
    offset = 0
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            start, offset = offset, offset + len(raw)
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw, start = raw[len(codecs.BOM_UTF8) :], start + len(codecs.BOM_UTF8)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise InputError(
                    f"{path}:{number}: not UTF-8 (byte 0x{raw[err.start]:02x} at byte offset "
                    f"{start + err.start}); re-save the file as UTF-8"
                ) from err
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{path}:{number}: not valid JSON ({err.msg})") from err
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{number}: expected a JSON object per line")
            yield number, obj


def load_token_file(path: str | Path, tokenizer: Any, *, chat_template: bool = False) -> TokenTable:
    """Token table from a JSONL file; ``text`` lines are tokenized with ``tokenizer``.

    With ``chat_template``, a ``text`` is wrapped as one user message by the tokenizer's chat
    template (with the generation prompt); lines with ``token_ids`` are always taken verbatim.
    """
    ids: list[str] = []
    sequences: list[list[int]] = []
    for number, obj in iter_jsonl(path):
        trace_id, seq = _line(path, number, obj)
        if seq is None:
            seq = _tokenize(obj["text"], tokenizer, chat_template, f"{path}:{number}")
        if not seq:
            raise InputError(f"{path}:{number}: sequence {trace_id!r} is empty")
        vocab = len(tokenizer) if tokenizer is not None else None
        if vocab is not None and (min(seq) < 0 or max(seq) >= vocab):
            raise InputError(
                f"{path}:{number}: token id {max(seq)} is outside the tokenizer's vocabulary "
                f"of {vocab}; were these tokens made by another tokenizer?"
            )
        ids.append(str(trace_id))
        sequences.append(seq)
    if not sequences:
        raise InputError(f"{path}: no sequences found")
    return TokenTable.from_sequences(ids, sequences)


def check_token_file(path: str | Path) -> int:
    """Check a token JSONL without a tokenizer (before a model is loaded); its number of lines.

    Every line must carry an id and non-empty integer ``token_ids`` or a string ``text``; the
    vocabulary and the tokenization are checked later by :func:`load_token_file`.
    """
    n = 0
    for number, obj in iter_jsonl(path):
        trace_id, seq = _line(path, number, obj)
        if seq is not None and not seq:
            raise InputError(f"{path}:{number}: sequence {trace_id!r} is empty")
        if seq is None and not isinstance(obj["text"], str):
            raise InputError(f'{path}:{number}: "text" must be a string')
        n += 1
    if not n:
        raise InputError(f"{path}: no sequences found")
    return n


def _line(path: str | Path, number: int, obj: dict[str, Any]) -> tuple[Any, list[int] | None]:
    """(id, token ids) of a line; ids None for a line that gives ``text`` instead."""
    trace_id = obj.get("id", obj.get("trace_id"))
    if trace_id is None:
        raise InputError(f'{path}:{number}: missing "id"')
    if "token_ids" in obj:
        seq = obj["token_ids"]
        if not isinstance(seq, list) or not all(isinstance(t, int) for t in seq):
            raise InputError(f'{path}:{number}: "token_ids" must be a list of integers')
        return trace_id, seq
    if "text" in obj:
        return trace_id, None
    raise InputError(f'{path}:{number}: needs "token_ids" or "text"')


def _tokenize(text: Any, tokenizer: Any, chat_template: bool, where: str) -> list[int]:
    if not isinstance(text, str):
        raise InputError(f'{where}: "text" must be a string')
    if chat_template:
        if not getattr(tokenizer, "chat_template", None):
            raise InputError(
                f"{where}: --chat-template given but the tokenizer has no chat template"
            )
        out = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
        )
        if isinstance(out, dict) or hasattr(out, "input_ids"):
            out = out["input_ids"]
        return list(out)
    return list(tokenizer(text)["input_ids"])


def tokenizer_id(tokenizer: Any) -> str:
    """Name and a hash of the vocabulary: stores built by different tokenizers are told apart."""
    vocab = tokenizer.get_vocab()
    digest = hashlib.sha256(
        json.dumps(sorted(vocab.items()), ensure_ascii=False).encode()
    ).hexdigest()[:12]
    return f"{getattr(tokenizer, 'name_or_path', '') or 'tokenizer'}|vocab={len(vocab)}|{digest}"
