from __future__ import annotations

import pytest

from activation_store.core.errors import InputError
from experiments.labels import KeywordConfig, KeywordLabeller, LabelRequest


@pytest.mark.parametrize(
    ("sentence", "phrase"),
    [
        ("Wait, that's wrong.", "wait"),
        ("wait.", "wait"),
        ("**Wait**, no.", "wait"),
        ('"Hmm," I said.', "hmm"),
        ("But, wait — the tens.", "but wait"),
        ("Let me re check it.", "let me re check"),
        ("That’s not right.", "that's not right"),
        ("No, it is 14.", "no"),
        ("No.", "no"),
        ("No two numbers are equal.", None),
        ("Now we add.", None),
        ("Waiting is fine.", None),
        ("Nope", None),
        ("So, wait.", None),
    ],
)
def test_default_lexicon_matches_openings_only(sentence: str, phrase: str | None) -> None:
    assert KeywordLabeller().matched_phrase(sentence) == phrase


def test_custom_lexicon_case_and_labels() -> None:
    labeller = KeywordLabeller(
        KeywordConfig(lexicon=("Wait", "On reflection"), punctuated=(), case_sensitive=True)
    )
    got = labeller.label_many(
        [LabelRequest("q", ("Wait, x.", "wait, x.", "On reflection it is 5.", "Hmm."))]
    )
    assert got == [["backtracking", "other", "backtracking", "other"]]
    assert labeller.config_dict()["lexicon"] == ("Wait", "On reflection")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lexicon": ()}, "lexicon is empty"),
        ({"lexicon": ("...",)}, "must have 1 to 8 words"),
        (
            {"lexicon": ("Wait",), "punctuated": ("No",)},
            "punctuated phrases No are not in the lexicon",
        ),
    ],
)
def test_bad_lexicons(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        KeywordConfig(**kwargs)
