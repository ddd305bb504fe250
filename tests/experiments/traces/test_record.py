from __future__ import annotations

import json
from pathlib import Path

import pytest

from activation_store.core.errors import InputError
from experiments.traces import Trace, read_traces, thinking_span


@pytest.mark.parametrize(
    ("text", "gen_start", "expected"),
    [
        ("<|User|>q<|Assistant|><think>\nA. B.</think> ans", 30, (29, 35, True)),
        ("<|User|>q<|Assistant|><think>\nA. B.", 30, (29, 35, False)),
        ("Question: q\nAnswer: A. B.", 19, (19, 25, False)),
        ("Question: q\nAnswer:<think> A.</think>", 19, (26, 29, True)),
        ("<|User|>q<|Assistant|><think>\n</think>", 30, (29, 30, True)),
    ],
)
def test_thinking_span(text: str, gen_start: int, expected: tuple[int, int, bool]) -> None:
    assert thinking_span(text, gen_start) == expected


def test_a_final_eos_is_not_thinking() -> None:
    text = "<|im_start|>assistant\n7 + 5 = 12.<|im_end|>"
    gen_start, eos_start = text.index("7"), text.index("<|im_end|>")
    assert thinking_span(text, gen_start, eos_start) == (gen_start, eos_start, False)


def _line(**overrides) -> dict:
    base = {
        "id": "t0", "prompt_id": "t0", "model_id": "m", "prompt": "q", "chat_template": True,
        "settings": {}, "text": "abcd", "generation_start": 2, "thinking_span": [2, 4],
        "thinking_closed": False, "finish_reason": "length", "n_prompt_tokens": 1,
        "token_ids": [5, 6], "token_offsets": [[0, 2], [2, 4]],
    }  # fmt: skip
    base.update(overrides)
    return base


def test_roundtrip_and_consistency_errors_name_the_line(tmp_path: Path) -> None:
    trace = Trace.from_json(_line())
    assert Trace.from_json(trace.to_json()) == trace
    assert trace.thinking_text == "cd" and trace.generated_ids == (6,)
    path = tmp_path / "t.jsonl"
    for bad, match in [
        (_line(token_offsets=[[0, 2]]), "1 token_offsets for 2 token_ids"),
        (_line(token_offsets=[[0, 2], [2, 9]]), "outside the text"),
        (_line(thinking_span=[3, 9]), "thinking_span"),
        ({"id": "x"}, "not a trace line"),
    ]:
        path.write_text(json.dumps(_line(id="ok")) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(InputError, match=rf"t.jsonl:2: .*{match}"):
            read_traces(path)
    path.write_text(json.dumps(_line()) + "\n" + json.dumps(_line()) + "\n")
    with pytest.raises(InputError, match="trace id 't0' appears twice"):
        read_traces(path)
    path.write_text("")
    with pytest.raises(InputError, match="no traces"):
        read_traces(path)
