"""traces → cache → ``backtrack label`` (keyword, then judge over HTTP) → ``backtrack agreement``."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from activation_store import ActivationStore
from activation_store.models import ModelConfig, load_hf_model
from activation_store.models.tiny import tiny_tokenizer
from experiments.cli import main
from experiments.generation import GenerationConfig
from experiments.prompts import load_prompts
from experiments.traces import generate_traces
from tests.experiments.generation.helpers import scripted
from tests.experiments.labels.judge_server import JudgeServer

THOUGHT = "First, 5 + 8 = 13. Wait, that is wrong. Hmm, 5 + 8 = 13 is right. So the answer is 13."


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A traces file of three scripted traces, and a store cached from it."""
    root = tmp_path_factory.mktemp("label-cli")
    model, tok = load_hf_model(ModelConfig(model="tiny-llama"))
    script = [*tok.encode(THOUGHT, add_special_tokens=False), tok.convert_tokens_to_ids("</think>")]
    traces = root / "traces.jsonl"
    with scripted(model, [script]):
        generate_traces(
            model,
            tok,
            "tiny-llama",
            load_prompts(categories=["carry"])[:3],
            traces,
            GenerationConfig(max_new_tokens=40, batch_size=3),
            progress=False,
        )
    store = root / "s.h5"
    assert (
        main(
            [
                "cache",
                "--model",
                "tiny-llama",
                "--tokens",
                str(traces),
                "--hooks",
                "blocks.1.hook_resid_post",
                "--out",
                str(store),
            ]
        )
        == 0
    )
    return traces, store


def _copy(store: Path, tmp_path: Path) -> Path:
    target = tmp_path / "s.h5"
    target.write_bytes(store.read_bytes())
    return target


def test_keyword_then_judge_labels_and_agreement(
    traced: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traces, store = traced
    store = _copy(store, tmp_path)
    kw, jl = tmp_path / "kw.jsonl", tmp_path / "judge.jsonl"
    assert main(["label", "--traces", str(traces), "--out", str(kw), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert (
        "labelled 12 sentences of 3 traces with the keyword labeller" in out
        and "6 backtracking" in out
    )
    with ActivationStore(store) as s:
        starts = s.label("backtracking_start")
        assert starts.sum() == 6
        opened = {
            tiny_tokenizer().decode([int(s.tokens.ids[row])]) for row in np.flatnonzero(starts)
        }
        assert opened == {
            "Wait",
            " Hmm",
        }  # " Hmm" straddles: it holds the space before the sentence
        assert json.loads(s.label_attrs("category")["labeller_config"])["lexicon"][0] == "Wait"
    with JudgeServer() as server:
        judge_args = ["label", "--traces", str(traces), "--labeller", "judge", "--url", server.url,
                      "--api-key-env", "", "--cache-dir", str(tmp_path / "cache"), "--out", str(jl),
                      "--store", str(store), "--label-suffix", "_judge", "--agreement-with", str(kw)]  # fmt: skip
        assert main(judge_args) == 0
        assert len(server.bodies) == 3
    out = capsys.readouterr().out
    assert "with the judge labeller" in out and "Cohen's kappa 1.000" in out
    with ActivationStore(store) as s:
        np.testing.assert_array_equal(
            s.label("backtracking_start_judge"), s.label("backtracking_start")
        )
        assert set(np.unique(s.label("category_judge"))) == {
            0,
            2,
            6,
        }  # none, deduction, backtracking
    assert main(["agreement", str(kw), str(jl), "--json", str(tmp_path / "a.json")]) == 0
    assert json.loads((tmp_path / "a.json").read_text())["confusion"] == [[6, 0], [0, 6]]


def test_judge_failures_write_nothing(
    traced: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traces, store = traced
    store = _copy(store, tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "j.jsonl"
    base = ["label", "--traces", str(traces), "--labeller", "judge", "--out", str(out), "--store", str(store),
            "--cache-dir", str(tmp_path / "c"), "--max-retries", "1", "--backoff-s", "0.01"]  # fmt: skip
    assert main([*base, "--url", f"http://127.0.0.1:{port}/v1", "--api-key-env", ""]) == 2
    assert "error: judge endpoint unavailable after 2 tries" in capsys.readouterr().err
    assert (
        main(
            [
                *base,
                "--url",
                f"http://127.0.0.1:{port}/v1",
                "--api-key-env",
                "BACKTRACK_TEST_NO_SUCH_KEY",
            ]
        )
        == 2
    )
    assert "BACKTRACK_TEST_NO_SUCH_KEY is not set" in capsys.readouterr().err
    assert not out.exists()
    with ActivationStore(store) as s:
        assert s.labels == []


def test_bad_traces_input(traced: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traces, store = traced
    lines = traces.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines[0] + "\n{oops\n")
    assert main(["label", "--traces", str(bad), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert f"{bad}:2: not valid JSON" in capsys.readouterr().err
    empty = [json.loads(line) for line in lines]
    for obj in empty:
        obj["thinking_span"] = [obj["thinking_span"][0], obj["thinking_span"][0]]
    bad.write_text("".join(json.dumps(o) + "\n" for o in empty))
    assert main(["label", "--traces", str(bad), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "none of the 3 traces has a sentence" in capsys.readouterr().err
    one = tmp_path / "one.jsonl"
    one.write_text(lines[0] + "\n")
    assert (
        main(
            [
                "label",
                "--traces",
                str(one),
                "--out",
                str(tmp_path / "x.jsonl"),
                "--store",
                str(store),
            ]
        )
        == 2
    )
    assert "which is not in the traces file" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
