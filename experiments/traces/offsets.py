"""Character spans of tokens: which characters of the decoded text each token produced.

Later steps map sentence spans (characters) to tokens with these spans, so they never re-tokenize
text (re-tokenizing decoded text need not give the same ids back). Spans are half-open ``[start,
end)`` into ``decode(ids)`` (special tokens kept, no whitespace clean-up). A token that ends in the
middle of a multi-byte character gets the span of that whole character, as does the token that
completes it: the two spans overlap. Tokens that straddle a sentence boundary (e.g. ``".\\n\\n"`` or
``" Wait"``) simply have spans that cover characters of both sides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

Decode = Callable[[Sequence[int]], str]
REPLACEMENT = "\ufffd"


class TokenText(NamedTuple):
    """Decoded text and the character span of every token."""

    text: str
    spans: list[tuple[int, int]]


def decoder(tokenizer: Any) -> Decode:
    """``ids → text`` with special tokens kept and no clean-up (the toolkit's one decoding)."""

    def decode(ids: Sequence[int]) -> str:
        return str(
            tokenizer.decode(
                list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False
            )
        )

    return decode


def _fast_decoder(tokenizer: Any) -> Decode | None:
    """The Rust tokenizer's own decode (no Python wrapper: ~3x faster on short windows), if any.

    Safe because the pieces it yields are checked against the full text from :func:`decoder`.
    """
    backend = (
        getattr(tokenizer, "backend_tokenizer", None)
        if getattr(tokenizer, "is_fast", False)
        else None
    )
    if backend is None:
        return None

    def decode(ids: Sequence[int]) -> str:
        return str(backend.decode(list(ids), skip_special_tokens=False))

    return decode


def token_char_spans(tokenizer: Any, ids: Sequence[int]) -> TokenText:
    """The decoded text of ``ids`` and each token's character span in it.

    Incremental decoding (two short decodes per token, linear time) is checked against the full
    decode; if they ever disagree (an unusual tokenizer), exact prefix decoding (quadratic) is used.
    """
    decode = decoder(tokenizer)
    text = decode(ids)
    spans = _incremental(_fast_decoder(tokenizer) or decode, ids, text)
    if spans is None:
        log.debug("incremental offsets disagree with the full decode; using prefix decoding")
        spans = _exact(decode, ids, text)
    return TokenText(text, spans)


def _incremental(decode: Decode, ids: Sequence[int], text: str) -> list[tuple[int, int]] | None:
    """Spans from decoding a short window per token (as streaming detokenizers do).

    The window starts one safe boundary back (a token boundary where no character was pending), so
    decoders that treat a sequence's first token specially (SentencePiece's leading space) see the
    same context as in the full decode. Returns None unless the pieces concatenate to ``text``.
    """
    spans: list[tuple[int, int]] = [(0, 0)] * len(ids)
    pieces: list[str] = []
    pending: list[int] = []  # tokens whose bytes have not decoded to text yet
    anchor, last_safe, window_text, emitted = 0, 0, "", 0
    last = len(ids) - 1
    for i in range(len(ids)):
        new_text = decode(ids[anchor : i + 1])
        if i < last and not new_text.startswith(window_text):
            pending.append(i)  # byte-fallback decoders garble a run until its last byte arrives
            continue
        complete = new_text if i == last else new_text.rstrip(REPLACEMENT)
        partial = len(complete) < len(new_text)
        if not complete.startswith(window_text):
            return None
        piece = complete[len(window_text) :]
        pieces.append(piece)
        for t in [*pending, i]:
            spans[t] = (emitted, emitted + len(piece) + partial)
        pending = []
        emitted += len(piece)
        if partial:
            window_text = complete
        else:
            anchor, last_safe = last_safe, i + 1
            window_text = decode(ids[anchor : i + 1])
    return spans if "".join(pieces) == text else None


def _exact(decode: Decode, ids: Sequence[int], text: str) -> list[tuple[int, int]]:
    """Spans from decoding every prefix and comparing it with ``text`` (quadratic, always right)."""
    bounds, partial = [0], [False]
    for i in range(1, len(ids) + 1):
        prefix = decode(ids[:i])
        bounds.append(_common_prefix(prefix, text))
        partial.append(len(prefix) > bounds[-1])
    return [
        (bounds[i], min(len(text), max(bounds[i], bounds[i + 1] + partial[i + 1])))
        for i in range(len(ids))
    ]


def _common_prefix(a: str, b: str) -> int:
    if b.startswith(a):
        return len(a)
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
