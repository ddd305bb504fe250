"""Bad input to the store: one-line errors, and nothing already stored changes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from activation_store.core.errors import StoreError, ToolkitError
from activation_store.create import create_store, prepare_model
from activation_store.reader import ActivationStore
from activation_store.writer import ActivationWriter

from .helpers import HOOKS, build_store, model_entry, synthetic_acts, token_table


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def _snapshot(path):
    with ActivationStore(path) as store:
        return {m: {h: store.read(m, h, slice(None)) for h in store.hooks(m)} for m in store.models}


def _write_batches(path, key, batches, start=0):
    with ActivationWriter(path, key, start_row=start) as writer:
        for i, (lo, acts) in enumerate(batches):
            writer.submit(i, lo, acts)


def _acts(rows, d_model=8):
    return {h: torch.from_numpy(synthetic_acts(rows, d_model, k)) for k, h in enumerate(HOOKS)}


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_nan_or_inf_batch_is_refused_and_named(tmp_path, poison):
    tokens = token_table([4, 4, 4])
    path = tmp_path / "s.h5"
    create_store(path, tokens, tokenizer_id="tok", config={})
    prepare_model(path, model_entry(), mode="new")
    good = _acts(np.arange(0, 4))
    bad = _acts(np.arange(4, 8))
    bad[HOOKS[1]][2, 3] = poison
    with pytest.raises(StoreError) as err:
        _write_batches(path, "m", [(0, good), (4, bad), (8, _acts(np.arange(8, 12)))])
    assert "batch 1" in one_line(err) and "NaN/inf" in str(err.value)
    with ActivationStore(path) as store:
        assert store.committed_rows("m") == 4  # the good batch stays, nothing after the bad one
        np.testing.assert_allclose(
            store.read("m", HOOKS[0], slice(0, 4)), good[HOOKS[0]].numpy(), atol=4e-3
        )


def test_float16_overflow_is_refused_not_stored_as_inf(tmp_path):
    tokens = token_table([4])
    path = tmp_path / "s.h5"
    create_store(path, tokens, tokenizer_id="tok", config={})
    prepare_model(path, model_entry(), mode="new")
    acts = _acts(np.arange(4))
    acts[HOOKS[0]][0, 0] = 70000.0  # SmolLM2's first-token residual gets close to this
    with pytest.raises(StoreError) as err:
        _write_batches(path, "m", [(0, acts)])
    assert "float16" in one_line(err) and "--store-dtype float32" in str(err.value)


def test_float32_store_keeps_large_values(tmp_path):
    tokens = token_table([4])
    path = tmp_path / "s.h5"
    create_store(path, tokens, tokenizer_id="tok", config={})
    prepare_model(path, model_entry(store_dtype="float32"), mode="new")
    acts = _acts(np.arange(4))
    acts[HOOKS[0]][0, 0] = 70000.0
    _write_batches(path, "m", [(0, acts)])
    with ActivationStore(path) as store:
        assert store.read("m", HOOKS[0], np.array([0]))[0, 0] == 70000.0


def test_existing_model_needs_resume_or_overwrite(tmp_path):
    path = build_store(tmp_path / "s.h5", token_table([5, 5]))
    before = _snapshot(path)
    with pytest.raises(StoreError) as err:
        prepare_model(path, model_entry(), mode="new")
    assert "--resume" in one_line(err) and "--overwrite" in str(err.value)
    assert prepare_model(path, model_entry(), mode="resume") == 10
    np.testing.assert_array_equal(before["m"][HOOKS[0]], _snapshot(path)["m"][HOOKS[0]])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fingerprint": "other"}, "fingerprint"),
        ({"d_model": 16}, "d_model"),
        ({"store_dtype": "float32"}, "store_dtype"),
    ],
)
def test_resume_with_other_settings_is_refused_naming_the_field(tmp_path, change, field):
    path = build_store(tmp_path / "s.h5", token_table([5, 5]))
    before = _snapshot(path)
    d_model = change.pop("d_model", 8)
    with pytest.raises(StoreError) as err:
        prepare_model(path, model_entry(d_model, **change), mode="resume")
    assert field in one_line(err)
    np.testing.assert_array_equal(before["m"][HOOKS[1]], _snapshot(path)["m"][HOOKS[1]])


def test_other_tokens_are_refused_naming_the_sequence(tmp_path):
    from activation_store.create import check_same_tokens
    from activation_store.h5io import open_store_file

    path = build_store(tmp_path / "s.h5", token_table([5, 5], seed=0))
    other = token_table([5, 5], seed=1)
    with open_store_file(path) as f, pytest.raises(StoreError) as err:
        check_same_tokens(f, other, path)
    assert "'t0'" in one_line(err)


def test_corrupt_or_truncated_file_is_a_one_line_error(tmp_path):
    path = build_store(tmp_path / "s.h5", token_table([50] * 10))
    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(StoreError) as err:
        ActivationStore(truncated)
    assert "corrupt or truncated" in one_line(err)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not hdf5 at all" * 100)
    with pytest.raises(StoreError):
        ActivationStore(garbage)
    with pytest.raises(StoreError, match="does not exist"):
        ActivationStore(tmp_path / "missing.h5")


def test_hdf5_file_that_is_not_a_store(tmp_path):
    import h5py

    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = 1
    with pytest.raises(StoreError, match="not an activation store"):
        ActivationStore(path)


def test_read_only_store_is_refused_before_writing(tmp_path, monkeypatch):
    path = build_store(tmp_path / "s.h5", token_table([5, 5]))
    before = _snapshot(path)
    path.chmod(0o444)
    if os.geteuid() == 0:  # root ignores permission bits; emulate what a user sees
        real_access = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda p, mode: (
                False if str(p) == str(path) and mode == os.W_OK else real_access(p, mode)
            ),
        )
    with pytest.raises(ToolkitError) as err:
        prepare_model(path, model_entry(key="n"), mode="new")
    assert "read-only" in one_line(err)
    path.chmod(0o644)
    assert _snapshot(path).keys() == before.keys()


def test_second_writer_is_refused_while_one_is_active(tmp_path):
    """HDF5's file lock keeps a second process from writing while a writer holds the store."""
    import subprocess
    import sys

    path = tmp_path / "s.h5"
    create_store(path, token_table([4, 4]), tokenizer_id="tok", config={})
    prepare_model(path, model_entry(), mode="new")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from activation_store.writer import ActivationWriter\n"
                f"w = ActivationWriter({str(path)!r}, 'm', start_row=0); print('ready', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError) as err:
            prepare_model(path, model_entry(key="n"), mode="new")
        assert "locked" in one_line(err)
    finally:
        holder.kill()
        holder.wait()
    assert prepare_model(path, model_entry(key="n"), mode="new") == 0
