"""JSONL inputs (tokens, traces, prompts, labels) that are not UTF-8: one line naming where."""

from __future__ import annotations

from pathlib import Path

import pytest

from activation_store.core.errors import InputError
from activation_store.token_input import iter_jsonl
from experiments.cli import main

GOOD = b'{"id": "a", "token_ids": [1, 2, 3]}\n'
BAD = b'{"id": "b", "text": "caf\xe9"}\n'  # Latin-1 é


def _bad_file(tmp_path: Path, first: bytes = GOOD) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_bytes(first + BAD)
    return path


def test_non_utf8_bytes_name_the_file_line_and_byte_offset(tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    offset = len(GOOD) + BAD.index(b"\xe9")
    with pytest.raises(InputError) as err:
        list(iter_jsonl(path))
    message = str(err.value)
    assert "\n" not in message
    assert f"{path}:2: not UTF-8 (byte 0xe9 at byte offset {offset})" in message


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD)
    assert [obj["id"] for _, obj in iter_jsonl(path)] == ["a"]


@pytest.mark.parametrize(
    "argv",
    [
        ["label", "--traces", "{bad}", "--out", "{tmp}/labels.jsonl"],
        ["cache", "--model", "tiny-llama", "--tokens", "{bad}", "--hooks",
         "blocks.0.hook_resid_post", "--out", "{tmp}/s.h5"],
        ["traces", "--model", "tiny-llama", "--prompts", "{bad}", "--out", "{tmp}/t.jsonl"],
    ],
)  # fmt: skip
def test_the_cli_reports_non_utf8_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    bad = _bad_file(tmp_path, first=b"\n")  # the readers check line 1 before reading line 2
    argv = [a.format(bad=bad, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and f"{bad}:2: not UTF-8" in err[-1]
    assert not (tmp_path / "s.h5").exists() and not (tmp_path / "labels.jsonl").exists()
