"""The HF capture path: TL hook names mean the same tensors; its stores equal the TL path's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from activation_store.cache_config import CacheConfig
from activation_store.capture import cache_activations
from activation_store.core.errors import StoreError
from activation_store.hf_capture import HookCapture, load_capture_model, rows_for_store
from activation_store.models import ModelConfig, load_model
from activation_store.models.hooks import BLOCK_KINDS, parse_hook
from activation_store.reader import ActivationStore
from activation_store.staging import HostStaging
from activation_store.tokens import TokenTable


def all_hooks(n_layers: int, pos_embed: bool) -> list[str]:
    names = ["hook_embed"] + (["hook_pos_embed"] if pos_embed else [])
    return names + [f"blocks.{layer}.hook_{k}" for layer in range(n_layers) for k in BLOCK_KINDS]


@pytest.mark.parametrize("spec", ["tiny-llama", "tiny-gpt"])
def test_hooks_equal_transformer_lens_and_hf_hidden_states(spec, device):
    cap = load_capture_model(ModelConfig(model=spec, device=device))
    tl = load_model(ModelConfig(model=spec, device=device))
    names = all_hooks(cap.n_layers, cap.has_pos_embed)
    specs = [parse_hook(n, cap.n_layers, has_pos_embed=cap.has_pos_embed) for n in names]
    ids = torch.randint(5, 300, (2, 17), generator=torch.Generator().manual_seed(0)).to(device)
    with HookCapture(cap.hf_model, cap.architecture, specs) as capture:
        got = capture.run(ids)
    _, cache = tl.model.run_with_cache(ids, names_filter=names)
    for name in names:
        torch.testing.assert_close(got[name], cache[name], atol=1e-5, rtol=1e-5, msg=name)
    with torch.inference_mode():
        hidden = cap.hf_model(input_ids=ids, output_hidden_states=True).hidden_states
    for layer in range(cap.n_layers - 1):  # the last hidden state is after the final norm
        torch.testing.assert_close(got[f"blocks.{layer}.hook_resid_post"], hidden[layer + 1])
    torch.testing.assert_close(got["blocks.0.hook_resid_pre"], hidden[0])


def test_forward_stops_after_the_last_needed_hook():
    cap = load_capture_model(ModelConfig(model="tiny-llama"))
    ran: list[int] = []
    handles = [
        block.register_forward_hook(lambda m, a, o, i=i: ran.append(i))
        for i, block in enumerate(cap.hf_model.model.layers)
    ]
    specs = [parse_hook("blocks.1.hook_attn_out", cap.n_layers)]
    with HookCapture(cap.hf_model, cap.architecture, specs) as capture:
        capture.run(torch.tensor([[5, 6, 7]]))
    for h in handles:
        h.remove()
    assert ran == [0]  # block 1 stopped inside (after attention), blocks 2.. never ran


def random_tokens(n_seq: int) -> TokenTable:
    rng = np.random.default_rng(0)
    seqs = [rng.integers(5, 400, size=int(rng.integers(3, 40))).tolist() for _ in range(n_seq)]
    return TokenTable.from_sequences([f"s{i}" for i in range(n_seq)], seqs)


@pytest.mark.parametrize("writer_thread", ["auto", "on"])
@pytest.mark.parametrize("store_dtype", ["float16", "float32"])
def test_hf_store_equals_the_transformer_lens_store(tmp_path, device, writer_thread, store_dtype):
    tokens = random_tokens(14)
    hooks = ("blocks.0.hook_resid_post", "blocks.2.hook_resid_mid", "hook_embed")
    cfg = CacheConfig(
        hooks=hooks,
        name="m",
        batch_tokens=150,
        store_dtype=store_dtype,
        writer_thread=writer_thread,
    )
    cache_activations(
        load_capture_model(ModelConfig(model="tiny-llama", device=device)),
        tokens,
        tmp_path / "hf.h5",
        cfg,
        progress=False,
    )
    cache_activations(
        load_model(ModelConfig(model="tiny-llama", device=device)),
        tokens,
        tmp_path / "tl.h5",
        cfg,
        progress=False,
    )
    with ActivationStore(tmp_path / "hf.h5") as a, ActivationStore(tmp_path / "tl.h5") as b:
        assert a.committed_rows("m") == tokens.n_tokens
        assert a.model_attrs("m")["store_dtype"] == store_dtype
        for hook in hooks:
            got, want = a.read("m", hook, slice(None)), b.read("m", hook, slice(None))
            np.testing.assert_allclose(got, want, atol=2e-3 if store_dtype == "float16" else 1e-5)


def test_device_checks_name_the_bad_row_and_the_float16_overflow(tmp_path):
    acts = {"h": torch.ones(2, 4, 3)}
    acts["h"][1, 1, 0] = float("nan")
    rows, stats = rows_for_store(acts, [3, 2], "float16")
    assert rows["h"].shape == (5, 3) and rows["h"].dtype == torch.float16
    assert stats["h"].tolist()[0] == 1.0
    assert torch.isnan(rows["h"][4]).any()  # row 4 = sequence 1, position 1
    big = {"h": torch.full((1, 2, 3), 1e6)}
    assert rows_for_store(big, [2], "float16")[1]["h"].tolist() == [0.0, -1.0, 1e6]

    cap = load_capture_model(ModelConfig(model="tiny-llama"))
    tokens = random_tokens(4)
    with torch.no_grad():
        cap.hf_model.model.embed_tokens.weight.mul_(1e6)
    cfg = CacheConfig(hooks=("hook_embed",), name="m", batch_tokens=64)
    with pytest.raises(StoreError, match="beyond float16"):
        cache_activations(cap, tokens, tmp_path / "big.h5", cfg, progress=False)
    token = int(tokens.sequence(2)[1])
    first_bad = int(tokens.offsets[2]) + 1
    assert token not in tokens.ids[:first_bad].tolist()
    with torch.no_grad():
        cap.hf_model.model.embed_tokens.weight.div_(1e6)
        cap.hf_model.model.embed_tokens.weight[token] = float("nan")
    with pytest.raises(StoreError, match=f"NaN/inf activations at row {first_bad};"):
        cache_activations(cap, tokens, tmp_path / "nan.h5", cfg, progress=False)


def test_staging_bounds_memory_and_hands_slots_back():
    staging = HostStaging(
        ["h"], max_rows=8, d_model=2, dtype=torch.float16, device=torch.device("cpu"), n_slots=2
    )
    rows = {"h": torch.ones(5, 2, dtype=torch.float16)}
    stats = {"h": torch.zeros(3)}
    a = staging.stage(rows, stats)
    b = staging.stage(rows, stats)
    waited: list[int] = []

    def wait() -> None:
        waited.append(1)
        a.release()
        a.release()  # idempotent

    c = staging.stage(rows, stats, wait=wait)  # blocks until a slot is handed back
    assert waited and c.rows["h"].shape == (5, 2)
    assert c.rows["h"].data_ptr() == a.rows["h"].data_ptr()
    b.release()
    with pytest.raises(ValueError, match="exceeds"):
        staging.stage({"h": torch.ones(9, 2)}, stats)


def test_resuming_a_transformer_lens_entry_with_the_hf_path_names_capture(tmp_path):
    tokens = random_tokens(3)
    cfg = CacheConfig(hooks=("blocks.0.hook_resid_post",), name="m", batch_tokens=64)
    cache_activations(load_model(ModelConfig(model="tiny-llama")), tokens, tmp_path / "s.h5", cfg)
    resume = CacheConfig(hooks=cfg.hooks, name="m", batch_tokens=64, resume=True)
    cap = load_capture_model(ModelConfig(model="tiny-llama"))
    with pytest.raises(StoreError, match="resumes with --capture transformer_lens"):
        cache_activations(cap, tokens, tmp_path / "s.h5", resume, progress=False)


def test_device_map_splits_a_checkpoint_and_caches_the_same_rows(tmp_path):
    """``device_map`` goes to accelerate (on this CPU every block lands on the CPU; on a machine
    with several GPUs the blocks spread over them) and the store holds the same rows."""
    from activation_store.core.errors import ModelLoadError
    from activation_store.models import load_hf_model
    from activation_store.models.tiny import save_tiny_llama

    ckpt = str(save_tiny_llama(tmp_path / "ckpt", seed=0))
    tokens = random_tokens(6)
    cfg = CacheConfig(hooks=("blocks.0.hook_resid_post", "blocks.2.hook_resid_mid"), name="m")
    split = load_capture_model(ModelConfig(model=ckpt, device_map="auto"))
    # transformers records a real split in hf_device_map; everything on the CPU needs none
    placement = getattr(split.hf_model, "hf_device_map", {"": "cpu"})
    assert set(placement.values()) <= {"cpu", 0, "cuda:0"}
    assert {p.device.type for p in split.hf_model.parameters()} <= {"cpu", "cuda"}
    for name, model in (("one", ModelConfig(model=ckpt)), ("split", None)):
        cap = split if model is None else load_capture_model(model)
        cache_activations(cap, tokens, tmp_path / f"{name}.h5", cfg, progress=False)
    with ActivationStore(tmp_path / "one.h5") as a, ActivationStore(tmp_path / "split.h5") as b:
        for hook in cfg.hooks:
            np.testing.assert_array_equal(
                a.read("m", hook, slice(None)), b.read("m", hook, slice(None))
            )
    with pytest.raises(ModelLoadError, match=r"spec built in memory.*drop --device-map"):
        load_capture_model(ModelConfig(model="tiny-llama", device_map="auto"))
    with pytest.raises(ModelLoadError, match="used by caching only"):
        load_hf_model(ModelConfig(model=ckpt, device_map="auto"))
    with pytest.raises(ValueError, match="device_map='everywhere' is not supported"):
        ModelConfig(model=ckpt, device_map="everywhere")  # type: ignore[arg-type]
