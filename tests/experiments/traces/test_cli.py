"""``backtrack traces`` on a local checkpoint directory, then ``backtrack cache`` on its output."""

from __future__ import annotations

from pathlib import Path

import pytest

from activation_store import ActivationStore
from activation_store.models.tiny import save_tiny_llama
from experiments.cli import main
from experiments.traces import read_traces


@pytest.mark.slow
def test_traces_from_a_local_directory_feed_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = save_tiny_llama(tmp_path / "ckpt", seed=0)
    out = tmp_path / "traces.jsonl"
    args = ["traces", "--model", str(ckpt), "--split", "evaluation", "--categories", "carry,logic",
            "--limit", "3", "--max-new-tokens", "6", "--batch-size", "2", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "wrote 3 traces" in capsys.readouterr().out
    traces = read_traces(out)
    assert [t.split for t in traces] == ["evaluation"] * 3
    assert {t.model_id for t in traces} == {str(ckpt.resolve())}
    assert main(args) == 0 and "wrote 0 traces" in capsys.readouterr().out  # resumed: nothing to do
    store = tmp_path / "s.h5"
    assert (
        main(
            [
                "cache",
                "--model",
                str(ckpt),
                "--tokens",
                str(out),
                "--hooks",
                "blocks.1.hook_resid_post",
                "--out",
                str(store),
            ]
        )
        == 0
    )
    with ActivationStore(store) as s:
        assert s.tokens.trace_ids == tuple(t.id for t in traces)


def test_bad_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["traces", "--model", "tiny-llama", "--out", str(tmp_path / "t.jsonl")]
    assert main([*base, "--plain-template", "no placeholder"]) == 2
    assert "must contain {prompt}" in capsys.readouterr().err
    assert main([*base, "--prompts", str(tmp_path / "missing.jsonl")]) == 2
    assert "neither a built-in set" in capsys.readouterr().err
    assert main([*base, "--top-p", "0"]) == 2
    assert "top_p=0.0 must be in (0, 1]" in capsys.readouterr().err


def test_engine_vllm_without_vllm_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import experiments.generation.vllm_engine as vllm_engine

    monkeypatch.setattr(vllm_engine, "vllm_available", lambda: False)
    out = tmp_path / "t.jsonl"
    args = ["traces", "--model", "tiny-llama", "--engine", "vllm", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "pip install 'backtrack-toolkit[vllm]'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    monkeypatch.setattr(vllm_engine, "vllm_available", lambda: True)
    assert main([*args, "--device-map", "auto"]) == 2
    assert "the vLLM engine loads it whole" in capsys.readouterr().err
    assert main(["traces", "--model", "tiny-llama", "--device-map", "auto", "--out", str(out)]) == 2
    assert "used by caching only" in capsys.readouterr().err
    assert not out.exists()
