"""The keyword labeller: a sentence is backtracking when it opens with a lexicon phrase.

Matching compares words, not characters: the sentence's opening words (letters, digits and inner
apostrophes; leading quotes, markdown ``*``/``_``, brackets and dashes skipped) must equal the
phrase's words, case-insensitively by default. Punctuation between words is ignored, so "But
wait" matches "But, wait", and "Let me re-check" matches "let me re check". A phrase never
matches inside a longer word: "No" does not match "Now". Phrases in ``punctuated`` only count when
punctuation follows them ("No," / "No." is backtracking; "No two numbers…" is not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from activation_store.core.errors import InputError
from experiments.labels.categories import BACKTRACKING, OTHER
from experiments.labels.labeller import LabelRequest

DEFAULT_LEXICON: tuple[str, ...] = (
    "Wait",
    "Hmm",
    "But wait",
    "Oh wait",
    "Actually",
    "Alternatively",
    "Hold on",
    "Hang on",
    "Let me re-check",
    "Let me recheck",
    "Let me double-check",
    "Let me reconsider",
    "On second thought",
    "Oops",
    "That's not right",
    "I made a mistake",
    "No",
)
"""Phrases that open a backtracking sentence (after Ward et al. 2025 and Venhoff et al. 2025)."""

MAX_PHRASE_WORDS = 8
"""Longest phrase, in words."""
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_PUNCT_AFTER = re.compile(r"\s*[,.;:!?—–\-…)]")


@dataclass(frozen=True, kw_only=True)
class KeywordConfig:
    """The keyword labeller's lexicon."""

    lexicon: tuple[str, ...] = DEFAULT_LEXICON
    """Opening phrases of backtracking sentences (comma-separated on the command line)."""
    punctuated: tuple[str, ...] = ("No",)
    """Lexicon phrases that count only when punctuation follows them ("No," but not "No two")."""
    case_sensitive: bool = False
    """Match the phrases' case exactly ("wait," then does not match "Wait")."""

    def __post_init__(self) -> None:
        if not self.lexicon:
            raise InputError("lexicon is empty; give at least one phrase, e.g. --lexicon Wait,Hmm")
        for phrase in self.lexicon:
            if not 0 < len(_WORD.findall(phrase)) <= MAX_PHRASE_WORDS:
                raise InputError(
                    f"lexicon phrase {phrase!r} must have 1 to {MAX_PHRASE_WORDS} words; fix it"
                )
        unknown = sorted(set(self.punctuated) - set(self.lexicon))
        if unknown:
            raise InputError(
                f"punctuated phrases {', '.join(unknown)} are not in the lexicon; add them to it"
            )


class KeywordLabeller:
    """Labels each sentence ``backtracking`` or ``other`` by its opening words."""

    name = "keyword"

    def __init__(self, config: KeywordConfig = KeywordConfig()) -> None:
        self.config = config
        self._phrases = sorted(
            ((self._words(p), p in config.punctuated) for p in config.lexicon),
            key=lambda item: -len(item[0]),
        )

    def config_dict(self) -> dict[str, object]:
        return asdict(self.config)

    def _norm(self, word: str) -> str:
        word = word.replace("’", "'")
        return word if self.config.case_sensitive else word.lower()

    def _words(self, text: str) -> list[str]:
        return [self._norm(w) for w in _WORD.findall(text)]

    def matched_phrase(self, sentence: str) -> str | None:
        """The lexicon phrase ``sentence`` opens with (longest first), or None."""
        matches = []
        for match in _WORD.finditer(sentence):
            matches.append(match)
            if len(matches) == MAX_PHRASE_WORDS:
                break
        opening = [self._norm(m.group()) for m in matches]
        for words, needs_punct in self._phrases:
            if opening[: len(words)] != words:
                continue
            if needs_punct:
                end = matches[len(words) - 1].end()
                if not _PUNCT_AFTER.match(sentence, end):
                    continue
            return " ".join(words)
        return None

    def label_sentence(self, sentence: str) -> str:
        return BACKTRACKING if self.matched_phrase(sentence) is not None else OTHER

    def label_many(self, items: Sequence[LabelRequest]) -> list[list[str | None]]:
        """Labels of each trace's sentences (the prompt is unused: keywords need no context)."""
        return [[self.label_sentence(s) for s in item.sentences] for item in items]
