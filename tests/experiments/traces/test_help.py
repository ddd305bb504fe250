"""``backtrack traces --help`` shows the plain template's newline as ``\\n``."""

from __future__ import annotations

import pytest

from experiments.cli import main


def test_the_plain_template_default_shows_its_newline_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["traces", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 'Question: {prompt}\\nAnswer:')" in text
