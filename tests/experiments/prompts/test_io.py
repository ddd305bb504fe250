from __future__ import annotations

import json
from pathlib import Path

import pytest

from activation_store.core.errors import InputError
from experiments.prompts import Problem, load_prompts, write_prompts


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_user_jsonl_with_optional_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "p.jsonl",
        [
            json.dumps({"id": "a", "prompt": "What is 2 + 2?", "answer": 4, "category": "math"}),
            "",
            json.dumps({"id": 7, "prompt": "Why is the sky blue?"}),
        ],
    )
    problems = load_prompts(path)
    assert problems == [
        Problem(id="a", prompt="What is 2 + 2?", category="math", answer=4),
        Problem(id="7", prompt="Why is the sky blue?"),
    ]
    assert load_prompts(write_prompts(problems, tmp_path / "back.jsonl")) == problems


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("{not json", r"p.jsonl:2: not valid JSON"),
        ('{"prompt": "x"}', r'p.jsonl:2: missing "id"'),
        ('{"id": "b", "prompt": "  "}', r'p.jsonl:2: "prompt" must be a non-empty string'),
        ('{"id": "b", "prompt": "x", "answer": [1]}', r'p.jsonl:2: "answer" must be'),
        ('{"id": "b", "prompt": "x", "split": "train"}', r'p.jsonl:2: "split" must be one of'),
        ('{"id": "a", "prompt": "x"}', r"prompt id 'a' appears twice"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, match: str) -> None:
    path = _write(tmp_path / "p.jsonl", [json.dumps({"id": "a", "prompt": "ok"}), line])
    with pytest.raises(InputError, match=match):
        load_prompts(path)


def test_selection_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="neither a built-in set"):
        load_prompts(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="categories chess are not in reasoning-v1"):
        load_prompts("reasoning-v1", categories=["chess"])
    path = _write(tmp_path / "p.jsonl", [json.dumps({"id": "a", "prompt": "ok"})])
    with pytest.raises(InputError, match="no prompts left"):
        load_prompts(path, split="evaluation")
    assert (
        len(load_prompts("reasoning-v1", split="evaluation", categories=["carry", "logic"])) == 20
    )


def test_prompts_cli_summarizes_and_exports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from experiments.cli import main

    out = tmp_path / "eval.jsonl"
    args = ["prompts", "--split", "evaluation", "--categories", "carry,logic", "--show", "1"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "20 prompts in reasoning-v1" in printed and "carry: evaluation 10" in printed
    assert "→ 53" in printed  # carry-000: 35 + 18
    exported = load_prompts(out)
    assert len(exported) == 20 and all(p.steps and p.split == "evaluation" for p in exported)
