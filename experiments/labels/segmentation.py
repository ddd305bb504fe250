"""Sentence segmentation of thinking text that keeps character spans.

Reasoning traces are informal: sentences end at ``.``, ``!`` or ``?`` followed by whitespace, and
at every line break (models put one thought per line or paragraph). A full stop does not end a
sentence after an abbreviation ("e.g.", "i.e.", "etc.", "vs."), an initial ("U.S."), or a
line-opening enumeration ("1." / "a)"), and an ellipsis followed by a lower-case word continues
the sentence ("Hmm... wait"). Decimals ("3.5") never split (no whitespace follows the dot).
Segments without a letter or digit (``---``, ``\\]``) are not sentences. Spans are half-open
``[start, end)`` into the original text, trimmed of surrounding whitespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "cf",
        "approx",
        "fig",
        "eq",
        "mr",
        "mrs",
        "ms",
        "dr",
        "jr",
        "sr",
        "resp",
        "incl",
    ]
)
"""Words (lower case, without the final dot) after which a dot does not end a sentence."""

_CANDIDATE = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_ENUMERATION = re.compile(r"^\s*(\d{1,3}|[a-zA-Z])[.)]$")
_HAS_CONTENT = re.compile(r"[^\W_]")


@dataclass(frozen=True)
class Sentence:
    """One sentence of a text, by character span."""

    start: int
    """Offset of its first character in the full text."""
    end: int
    """Offset just after its last character."""
    text: str
    """``full_text[start:end]``."""


def segment(text: str, span: tuple[int, int] | None = None) -> list[Sentence]:
    """Sentences of ``text[span[0]:span[1]]`` (default: all of ``text``), with spans into ``text``."""
    lo, hi = span if span is not None else (0, len(text))
    if not 0 <= lo <= hi <= len(text):
        raise ValueError(f"span {(lo, hi)} is outside a text of {len(text)} characters")
    sentences: list[Sentence] = []
    line_start = lo
    for line in text[lo:hi].split("\n"):
        for start, end in _split_line(line):
            _add(sentences, text, line_start + start, line_start + end)
        line_start += len(line) + 1
    return sentences


def _split_line(line: str) -> list[tuple[int, int]]:
    pieces, start = [], 0
    for match in _CANDIDATE.finditer(line):
        if _continues(line, start, match):
            continue
        pieces.append((start, match.end()))
        start = match.end()
    pieces.append((start, len(line)))
    return pieces


def _continues(line: str, start: int, match: re.Match[str]) -> bool:
    """Whether the sentence goes on after this punctuation."""
    punct = match.group()
    before = line[start : match.start()]
    if punct.startswith(".") and punct.rstrip("\"'”’)]") == ".":
        word = _WORD_BEFORE.search(before)
        if word is not None:
            w = word.group(1).lower()
            if w in ABBREVIATIONS or (len(w) == 1 and w.isalpha() and word.group(1).isupper()):
                return True
            if "." in w and len(w.replace(".", "")) <= 3 and w.replace(".", "").isalpha():
                return True  # "U.S", "e.g" written with inner dots
        if _ENUMERATION.match(line[start : match.end()]):
            return True
    if punct.startswith("..") or punct.startswith("…"):
        rest = line[match.end() :].lstrip()
        return bool(rest) and rest[0].islower()
    return False


def _add(sentences: list[Sentence], text: str, start: int, end: int) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if not stripped or not _HAS_CONTENT.search(stripped):
        return
    s = start + (len(chunk) - len(chunk.lstrip()))
    sentences.append(Sentence(s, s + len(stripped), stripped))
