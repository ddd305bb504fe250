from __future__ import annotations

import pytest

from experiments.labels import segment


def texts(text: str, span: tuple[int, int] | None = None) -> list[str]:
    out = segment(text, span)
    assert all(text[s.start : s.end] == s.text for s in out)
    return [s.text for s in out]


def test_sentence_ends_and_line_breaks() -> None:
    assert texts("First, 5 + 8 = 13. Wait, that's 13!\n\nSo carry 1? Yes") == [
        "First, 5 + 8 = 13.", "Wait, that's 13!", "So carry 1?", "Yes",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The value is 3.5 here. Next.", ["The value is 3.5 here.", "Next."]),
        ("Use e.g. the sum, i.e. 5. Then stop.", ["Use e.g. the sum, i.e. 5.", "Then stop."]),
        ("The U.S. team won. Dr. Smith agreed.", ["The U.S. team won.", "Dr. Smith agreed."]),
        ("1. First step.\n2) Second step.", ["1. First step.", "2) Second step."]),
        ("Hmm... wait, no. Hmm… Okay.", ["Hmm... wait, no.", "Hmm…", "Okay."]),
        ('"Quoted end." Next (aside.) Last', ['"Quoted end."', "Next (aside.)", "Last"]),
        ("---\n\\]\n**\nReal one", ["Real one"]),
        ("", []),
        ("   \n  ", []),
    ],
)
def test_exceptions_and_non_sentences(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_span_restricts_and_offsets_stay_in_the_full_text() -> None:
    text = "<think>\nA one. B two.</think> C three."
    out = segment(text, (7, text.index("</think>")))
    assert [(s.text, s.start) for s in out] == [("A one.", 8), ("B two.", 15)]
    with pytest.raises(ValueError, match="outside"):
        segment(text, (5, 999))
