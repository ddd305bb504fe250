from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from activation_store.cache_config import CacheConfig
from activation_store.capture import cache_activations
from activation_store.core.errors import InputError, StoreError
from activation_store.models import ModelConfig, load_model
from activation_store.reader import ActivationStore
from activation_store.tokens import TokenTable

HOOKS = ("blocks.0.hook_resid_post", "blocks.2.hook_resid_post", "hook_embed")


@pytest.fixture(scope="module")
def tiny(request):
    device = request.config.getoption("--device")
    return load_model(ModelConfig(model="tiny-llama", device=device))


def random_tokens(n_seq: int, seed: int = 0, lo: int = 3, hi: int = 40) -> TokenTable:
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(5, 400, size=int(rng.integers(lo, hi))).tolist() for _ in range(n_seq)]
    return TokenTable.from_sequences([f"s{i}" for i in range(n_seq)], seqs)


@pytest.mark.parametrize("writer_thread", ["auto", "on"])
def test_batched_right_padded_cache_equals_each_sequence_alone(tiny, tmp_path, writer_thread):
    tokens = random_tokens(12)
    out = tmp_path / "s.h5"
    cfg = CacheConfig(
        hooks=HOOKS,
        name="base",
        batch_tokens=200,
        store_dtype="float32",
        writer_thread=writer_thread,
    )
    result = cache_activations(tiny, tokens, out, cfg, progress=False)
    assert result.rows_written == tokens.n_tokens
    with ActivationStore(out) as store:
        assert store.committed_rows("base") == tokens.n_tokens
        for s in (0, 5, 11):
            seq = torch.from_numpy(tokens.sequence(s).astype("int64"))[None].to(tiny.device)
            _, cache = tiny.model.run_with_cache(seq, names_filter=list(HOOKS))
            rows = np.arange(tokens.offsets[s], tokens.offsets[s + 1])
            for hook in HOOKS:
                got = store.read("base", hook, rows)
                np.testing.assert_allclose(got, cache[hook][0].float().cpu().numpy(), atol=1e-4)


def test_second_model_joins_the_same_tokens(tiny, tmp_path):
    tokens = random_tokens(6)
    out = tmp_path / "s.h5"
    cache_activations(tiny, tokens, out, CacheConfig(hooks=HOOKS[:1], name="a"), progress=False)
    other = load_model(ModelConfig(model="tiny-llama", seed=1))
    cache_activations(other, tokens, out, CacheConfig(hooks=HOOKS[:2], name="b"), progress=False)
    with ActivationStore(out) as store:
        assert store.models == ["a", "b"]
        assert store.hooks("b") == list(HOOKS[:2])
        a = store.read("a", HOOKS[0], slice(None))
        b = store.read("b", HOOKS[0], slice(None))
        assert not np.allclose(a, b)
        assert store.model_attrs("a")["fingerprint"] != store.model_attrs("b")["fingerprint"]
    with pytest.raises(StoreError, match="'s0'"):
        cache_activations(
            tiny,
            random_tokens(6, seed=9),
            out,
            CacheConfig(hooks=HOOKS[:1], name="c"),
            progress=False,
        )


def test_unknown_hook_lists_valid_ones(tiny, tmp_path):
    with pytest.raises(InputError) as err:
        cache_activations(
            tiny,
            random_tokens(2),
            tmp_path / "s.h5",
            CacheConfig(hooks=("blocks.9.hook_resid_post",)),
            progress=False,
        )
    assert "valid" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "s.h5").exists()


def test_sequence_longer_than_context_is_named(tiny, tmp_path):
    tokens = TokenTable.from_sequences(["long"], [[5] * (tiny.model.cfg.n_ctx + 1)])
    with pytest.raises(InputError, match="'long'"):
        cache_activations(
            tiny, tokens, tmp_path / "s.h5", CacheConfig(hooks=HOOKS[:1]), progress=False
        )


def test_store_info_and_token_file(tiny, tmp_path):
    from activation_store.info import store_info
    from activation_store.token_input import load_token_file

    path = tmp_path / "tokens.jsonl"
    path.write_text(
        json.dumps({"id": "a", "text": "Wait, 7 × 8 is 56, not 54."})
        + "\n"
        + json.dumps({"id": "b", "token_ids": [5, 6, 7]})
        + "\n"
    )
    tokens = load_token_file(path, tiny.tokenizer)
    assert tokens.trace_ids == ("a", "b") and tokens.sequence(1).tolist() == [5, 6, 7]
    out = tmp_path / "s.h5"
    cache_activations(tiny, tokens, out, CacheConfig(hooks=HOOKS[:2], name="base"), progress=False)
    info = store_info(out)
    assert info["n_tokens"] == tokens.n_tokens
    assert info["models"]["base"]["committed_rows"] == tokens.n_tokens
    assert info["models"]["base"]["hooks"]["blocks.2.hook_resid_post"]["hf_module"].startswith(
        "model.layers.2"
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "ok"}\n{"id": \n')
    with pytest.raises(InputError, match=r"bad.jsonl:2"):
        load_token_file(bad, tiny.tokenizer)


def test_overwrite_rebuilds_a_store_of_other_tokens_only_when_it_holds_no_other_model(
    tiny, tmp_path
):
    out = tmp_path / "s.h5"
    cache_activations(tiny, random_tokens(3), out, CacheConfig(hooks=HOOKS[:1]), progress=False)
    new_tokens = random_tokens(4, seed=5)
    cfg = CacheConfig(hooks=HOOKS[:1], overwrite=True)  # default key, the store's only model
    cache_activations(tiny, new_tokens, out, cfg, progress=False)
    with ActivationStore(out) as store:
        assert store.tokens.fingerprint() == new_tokens.fingerprint()
    cache_activations(
        tiny, new_tokens, out, CacheConfig(hooks=HOOKS[:1], name="other"), progress=False
    )
    with pytest.raises(StoreError, match="holds 4 sequences"):  # would drop "other": refused
        cache_activations(tiny, random_tokens(3), out, cfg, progress=False)
