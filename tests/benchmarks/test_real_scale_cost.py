"""benchmarks/real_scale_cost.py runs end to end on its --small config (the GPU run is the lead's)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "real_scale_cost.py"


def _load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("real_scale_cost", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_small_run_writes_its_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load()
    out = tmp_path / "cost.json"
    argv = [
        "real_scale_cost.py",
        "--small",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--json",
        str(out),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    bench.main()
    figures = json.loads(out.read_text())
    assert figures["dtype"] == "float32" and figures["config"]["num_hidden_layers"] == 2
    gen = figures["generate"]["4"]
    assert gen["plain"]["tokens"] == gen["steered"]["tokens"] == 4 * 8  # min_new_tokens holds
    assert gen["steered_over_plain"] > 0
    forward = figures["forward"]
    assert forward["layers_run"] == 2 and forward["cached_layers"] == [1]
    assert forward["capture"]["layer_tok_s"] == pytest.approx(
        2 * forward["capture"]["tok_s"], rel=1e-3
    )


def test_full_config_is_llama31_8b() -> None:
    from experiments.study.shapes import model_shape

    bench = _load()
    config = bench.llama_config(bench.LLAMA31_8B)
    assert config.rope_parameters["rope_type"] == "llama3"
    shape = model_shape("llama", {**bench.LLAMA31_8B, "architectures": ["LlamaForCausalLM"]}, "t")
    assert shape.n_params == 8_030_261_248
