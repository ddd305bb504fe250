"""Cheap inputs are checked before any model weights load (the loaders here fail loudly)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest
import torch

from activation_store.direction import Direction, save_direction
from activation_store.models import ModelConfig, load_model
from activation_store.models.organism_weights import VERSIONS as ORGANISM_VERSIONS
from activation_store.models.tiny import save_tiny_llama
from activation_store.preflight import SPEC_SHAPES
from experiments.cli import main
from tests.experiments.labels.helpers import make_trace
from tests.experiments.labels.judge_server import JudgeServer
from tests.probes.helpers import planted_store


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("preflight") / "store.h5"
    planted_store(path, n_seq=8, seq_len=60, d_model=16, models=("base",), early_events=1)
    return path


@pytest.fixture
def store(planted: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(planted, tmp_path / "store.h5"))


@pytest.fixture
def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def loudly(*args: object, **kwargs: object) -> None:
        raise AssertionError("model weights were loaded before the inputs were checked")

    monkeypatch.setattr("activation_store.models.loader._load_hf", loudly)
    monkeypatch.setattr("sae_analysis.run.load_sae", loudly)
    monkeypatch.setattr("probes.direction_run.derive_directions", loudly)
    monkeypatch.setattr("probes.probe_run.build_probe_data", loudly)


def _tokens(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.jsonl"
    path.write_text('{"id": "a", "token_ids": [5, 6, 7]}\n')
    return path


def _fails(argv: list[str], match: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and match in err, err


CACHE = ["cache", "--model", "tiny-llama", "--hooks", "blocks.0.hook_resid_post"]


@pytest.mark.usefixtures("no_loading")
def test_cache_checks_tokens_hooks_out_and_the_store_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], planted: Path
) -> None:
    tokens, out = _tokens(tmp_path), str(tmp_path / "s.h5")
    _fails([*CACHE, "--tokens", str(tmp_path / "missing.jsonl"), "--out", out], "does not exist",
           capsys)  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n')
    _fails([*CACHE, "--tokens", str(bad), "--out", out], 'needs "token_ids" or "text"', capsys)
    hook = ["--hooks", "blocks.4.hook_resid_post"]
    _fails([*CACHE, *hook, "--tokens", str(tokens), "--out", out], "out of range 0..3", capsys)
    _fails([*CACHE, "--tokens", str(tokens), "--out", str(tmp_path / "no" / "s.h5")],
           "does not exist; create it first", capsys)  # fmt: skip
    _fails(["cache", "--model", str(tmp_path / "nowhere"), "--hooks", "blocks.0.hook_resid_post",
            "--tokens", str(tokens), "--out", out], "does not exist", capsys)  # fmt: skip
    _fails([*CACHE, "--tokens", str(tokens), "--out", str(planted), "--name", "base"],
           "already in", capsys)  # fmt: skip


def test_cache_checks_hooks_against_a_local_config_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = save_tiny_llama(tmp_path / "ckpt")
    config = json.loads((checkpoint / "config.json").read_text())
    monkeypatch.setattr("activation_store.models.loader._load_hf", _loudly)
    hook = f"blocks.{config['num_hidden_layers']}.hook_resid_post"
    _fails(["cache", "--model", str(checkpoint), "--hooks", hook, "--tokens",
            str(_tokens(tmp_path)), "--out", str(tmp_path / "s.h5")], "out of range", capsys)  # fmt: skip


def _loudly(*args: object, **kwargs: object) -> None:
    raise AssertionError("model weights were loaded before the inputs were checked")


@pytest.mark.usefixtures("no_loading")
def test_traces_and_label_check_their_out_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    _fails(["traces", "--model", "tiny-llama", "--out", str(a_file / "t.jsonl")],
           "cannot be created", capsys)  # fmt: skip
    _fails(["traces", "--model", "no-such-spec", "--out", str(tmp_path / "t.jsonl")],
           "unknown model", capsys)  # fmt: skip
    broken = tmp_path / "old.jsonl"
    broken.write_text("{not json\n")
    _fails(["traces", "--model", "tiny-llama", "--out", str(broken)], "not valid JSON", capsys)
    traces = tmp_path / "traces.jsonl"
    traces.write_text(json.dumps(make_trace("a", "Wait, 2 + 2 = 4. So 4.").to_json()) + "\n")
    with JudgeServer() as server:
        _fails(["label", "--traces", str(traces), "--labeller", "judge", "--url", server.url,
                "--api-key-env", "", "--out", str(tmp_path / "no" / "labels.jsonl")],
               "does not exist", capsys)  # fmt: skip
        assert server.bodies == []  # no judge request was sent


@pytest.mark.usefixtures("no_loading")
def test_directions_probe_decompose_compare_check_out_and_models_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    _fails(["directions", str(store), "--out", str(a_file)], "is a file", capsys)
    _fails(["probe", str(store), "--out", str(a_file)], "is a file", capsys)
    direction = save_direction(
        Direction(name="d", vector=torch.randn(16), model="base", hook="blocks.1.hook_resid_post",
                  kind="x", provenance={"model_id": "tiny-llama"}), tmp_path / "dirs",
    )  # fmt: skip
    _fails(["decompose", "--direction", str(direction), "--sae", "smollm2-135m-l10r-8x",
            "--store", str(store), "--out", str(a_file)], "is a file", capsys)  # fmt: skip
    _fails(["compare-directions", str(tmp_path / "dirs"), "--out", str(a_file)], "is a file",
           capsys)  # fmt: skip
    _fails(["compare-directions", str(tmp_path / "dirs"), "--lens-model",
            f"base={tmp_path / 'gone'}", "--out", str(tmp_path / "cmp")], "does not exist",
           capsys)  # fmt: skip
    with h5py.File(store, "r+") as f:
        f["activations/base"].attrs["model_id"] = str(tmp_path / "moved-away")
    for command in ("directions", "probe"):
        _fails([command, str(store), "--out", str(tmp_path / command)], "moved-away", capsys)


@pytest.mark.parametrize("spec", ["tiny-llama", "tiny-gpt"])
def test_the_known_spec_shapes_are_the_models_shapes(spec: str) -> None:
    loaded = load_model(ModelConfig(model=spec))
    has_pos_embed = loaded.model.cfg.positional_embedding_type != "rotary"
    assert SPEC_SHAPES[spec] == (loaded.n_layers, has_pos_embed)


@pytest.mark.gguf
def test_the_smollm2_spec_shape_is_its_config() -> None:
    from gguf import GGUFReader  # type: ignore[import-not-found]

    from activation_store.models.smollm2 import gguf_path

    reader = GGUFReader(str(gguf_path()))
    blocks = int(reader.fields["llama.block_count"].parts[-1][0])
    organisms = [
        "smollm2-135m-reasoner",
        *(f"smollm2-135m-reasoner-{v}" for v in ORGANISM_VERSIONS),
    ]
    assert {SPEC_SHAPES[s] for s in ["smollm2-135m", *organisms]} == {(blocks, False)}
