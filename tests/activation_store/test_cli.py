"""The `backtrack` CLI in-process: one-line errors, `store info`, and a light `--help`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from experiments.cli import main


def test_help_imports_no_heavy_library():
    code = (
        "import sys, experiments.cli as c; c.build_parser(); "
        "heavy = [m for m in ('torch', 'transformer_lens', 'sae_lens', 'transformers') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"`backtrack --help` imports {out.stdout.strip()}"


def test_cache_and_store_info(tmp_path, capsys):
    tokens = tmp_path / "t.jsonl"
    tokens.write_text(
        "\n".join(
            json.dumps({"id": f"s{i}", "text": f"Wait, {i} + {i} is {2 * i}."}) for i in range(5)
        )
    )
    out = tmp_path / "s.h5"
    args = ["cache", "--model", "tiny-llama", "--tokens", str(tokens), "--out", str(out)]
    assert main([*args, "--hooks", "blocks.1.hook_resid_post", "--name", "base"]) == 0
    assert main(["store", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert (
        "model base: tiny-llama" in text
        and "complete" in text
        and "blocks.1.hook_resid_post" in text
    )
    assert main(["store", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["models"]["base"]["committed_rows"] == info["n_tokens"]
    # Same model again: refused without --resume/--overwrite, store unchanged.
    assert main([*args, "--hooks", "blocks.1.hook_resid_post", "--name", "base"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--resume" in err
    assert (
        main([*args, "--hooks", "blocks.1.hook_resid_post", "--name", "base", "--overwrite"]) == 0
    )


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--hooks", "blocks.7.hook_resid_post"], "valid"),
        (["--hooks", "blocks.1.hook_resid_post", "--device", "cuda"], "cuda"),
        (["--hooks", "blocks.1.hook_resid_post", "--model", "/no/such/dir"], "/no/such/dir"),
        (["--hooks", "blocks.1.hook_resid_post", "--resume", "--overwrite"], "--resume"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, extra, needle):
    import torch

    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    tokens = tmp_path / "t.jsonl"
    tokens.write_text(json.dumps({"id": "a", "text": "Hmm."}) + "\n")
    args = [
        "cache",
        "--model",
        "tiny-llama",
        "--tokens",
        str(tokens),
        "--out",
        str(tmp_path / "s.h5"),
    ]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert not (tmp_path / "s.h5").exists()


def test_bfloat16_model_caches_into_float16_and_float32(tmp_path):
    from activation_store.cache_config import CacheConfig
    from activation_store.capture import cache_activations
    from activation_store.models import ModelConfig, load_model
    from activation_store.reader import ActivationStore
    from activation_store.tokens import TokenTable

    loaded = load_model(ModelConfig(model="tiny-llama", dtype="bfloat16"))
    tokens = TokenTable.from_sequences(["a", "b"], [[5, 6, 7, 8], [9, 10]])
    out = tmp_path / "s.h5"
    for dtype in ("float16", "float32"):
        cfg = CacheConfig(hooks=("blocks.0.hook_resid_post",), name=dtype, store_dtype=dtype)
        cache_activations(loaded, tokens, out, cfg, progress=False)
    with ActivationStore(out) as store:
        assert store.model_attrs("float32")["model_dtype"] == "bfloat16"
        a = store.read("float32", "blocks.0.hook_resid_post", slice(None))
        b = store.read("float16", "blocks.0.hook_resid_post", slice(None))
    # bfloat16 → float32 is exact; float16 keeps bfloat16's 8 mantissa bits too (in range).
    assert (a == b).all()
