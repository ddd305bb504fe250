from __future__ import annotations

import h5py
import numpy as np
import pytest

from activation_store import schema
from activation_store.core.errors import StoreError
from activation_store.reader import ActivationStore

from .helpers import HOOKS, build_store, synthetic_acts, token_table


@pytest.fixture()
def store_path(tmp_path):
    return build_store(tmp_path / "s.h5", token_table([5, 9, 3, 12, 7] * 20), d_model=8)


def test_rows_round_trip_through_float16(store_path):
    with ActivationStore(store_path) as store:
        assert store.committed_rows("m") == store.n_tokens
        rows = np.array([0, 3, 200, 17, 17, 499])
        got = store.read("m", HOOKS[1], rows)
        want = synthetic_acts(rows, 8, 1)
        np.testing.assert_allclose(got, want, atol=4e-3)
        assert got.dtype == np.float32


def test_plain_h5py_reads_the_schema(store_path):
    with h5py.File(store_path, "r") as f:
        n = int(f.attrs["n_tokens"])
        assert f[schema.TOKEN_IDS].shape == (n,)
        offsets = f[schema.SEQ_OFFSETS][()]
        seq = f[schema.TOKEN_SEQ][()]
        pos = f[schema.TOKEN_POS][()]
        assert offsets[-1] == n
        assert seq[offsets[3]] == 3 and pos[offsets[3]] == 0 and pos[offsets[3] + 1] == 1
        ds = f[schema.activation_path("m", HOOKS[0])]
        assert ds.shape == (n, 8) and ds.dtype == np.float16
        assert ds.attrs["hook"] == HOOKS[0]
        assert int(f[schema.committed_path("m")][()]) == n


def test_iter_batches_covers_every_row_once_and_is_seeded(store_path):
    with ActivationStore(store_path) as store:

        def order(seed):
            return np.concatenate(
                [
                    b.rows
                    for b in store.iter_batches(
                        "m", HOOKS, batch_size=32, seed=seed, buffer_blocks=2
                    )
                ]
            )

        a, b, c = order(0), order(0), order(1)
        assert sorted(a.tolist()) == list(range(store.n_tokens))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
        for batch in store.iter_batches("m", HOOKS, batch_size=50, seed=3):
            np.testing.assert_allclose(
                batch.acts[HOOKS[0]].numpy(), synthetic_acts(batch.rows, 8, 0), atol=4e-3
            )


def test_iter_batches_subset_unshuffled_in_order(store_path):
    rows = np.array([400, 3, 5, 250, 251, 7])
    with ActivationStore(store_path) as store:
        batches = list(store.iter_batches("m", [HOOKS[0]], rows=rows, batch_size=4, shuffle=False))
    assert [len(b.rows) for b in batches] == [4, 2]
    np.testing.assert_array_equal(np.concatenate([b.rows for b in batches]), np.sort(rows))


def test_streaming_memory_is_bounded_by_blocks(tmp_path):
    """A store read in blocks never materialises more than buffer_blocks blocks per hook."""
    tokens = token_table([64] * 200)
    path = build_store(tmp_path / "big.h5", tokens, d_model=256)
    with ActivationStore(path) as store:
        with h5py.File(path, "r", locking=False) as f:
            block = int(f[schema.activation_path("m", HOOKS[0])].attrs["block_rows"])
        biggest = 0
        seen = 0
        import activation_store.reader as reader

        original = reader.ActivationStore._read_sorted

        def spy(self, ds, rows):
            nonlocal biggest
            biggest = max(biggest, len(rows))
            return original(self, ds, rows)

        reader.ActivationStore._read_sorted = spy  # type: ignore[method-assign]
        try:
            for batch in store.iter_batches("m", [HOOKS[0]], batch_size=100, buffer_blocks=2):
                seen += len(batch.rows)
        finally:
            reader.ActivationStore._read_sorted = original  # type: ignore[method-assign]
    assert seen == tokens.n_tokens
    assert biggest <= block


def test_reading_uncommitted_rows_is_refused(tmp_path):
    from activation_store.create import create_store, prepare_model

    from .helpers import model_entry

    path = tmp_path / "s.h5"
    create_store(path, token_table([4, 4]), tokenizer_id="tok", config={})
    prepare_model(path, model_entry(), mode="new")
    with ActivationStore(path) as store, pytest.raises(StoreError, match="not committed"):
        store.read("m", HOOKS[0], np.array([1]))


def test_unknown_model_and_hook_list_valid_ones(store_path):
    with ActivationStore(store_path) as store:
        with pytest.raises(StoreError, match="models present: m"):
            store.hooks("nope")
        with pytest.raises(StoreError, match=r"cached hooks: blocks\.0\.hook_resid_post"):
            store.read("m", "blocks.9.hook_resid_post", np.array([0]))


def test_listing_models_while_streaming_does_not_break_the_stream(tmp_path):
    path = build_store(tmp_path / "big.h5", token_table([64] * 100), d_model=256)  # 4 blocks
    with ActivationStore(path) as store:
        seen = 0
        for batch in store.iter_batches("m", HOOKS, batch_size=500, buffer_blocks=1):
            assert store.models == ["m"]  # re-opens the file under the iterator
            seen += len(batch.rows)
        assert seen == store.n_tokens
