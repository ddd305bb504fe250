from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch

from activation_store.core.errors import InputError, StoreError, ToolkitError
from activation_store.direction import Direction
from activation_store.labels import write_label
from activation_store.reader import ActivationStore
from probes.config import DirectionConfig, ProbeConfig
from probes.diff_of_means import derive_directions
from probes.probe_run import run_probes
from probes.similarity import cosine_matrix
from tests.probes.helpers import HOOKS


@pytest.fixture
def store(planted, tmp_path):
    path = tmp_path / "store.h5"
    shutil.copy(planted.path, path)
    return path


def _derive(path, **kw):
    with ActivationStore(path) as s:
        return derive_directions(s, DirectionConfig(n_random=0, **kw))


def _one_line(err: pytest.ExceptionInfo) -> str:
    assert isinstance(err.value, ToolkitError) and "\n" not in str(err.value)
    return str(err.value)


def test_no_labelled_events(store, planted):
    write_label(store, "backtracking_start", np.zeros_like(planted.starts), overwrite=True)
    with pytest.raises(InputError) as err:
        _derive(store)
    assert "no labelled events" in _one_line(err)


def test_fewer_events_than_the_minimum_names_it(store):
    with pytest.raises(InputError, match="min_events is 1000") as err:
        _derive(store, min_events=1000)
    _one_line(err)
    with pytest.raises(InputError, match=r"offset -1: only .* \(min_events is 1000\)"):
        run_probes(store, ProbeConfig(offsets=(-1,), min_events=1000))


def test_offsets_outside_every_sequence(store):
    with pytest.raises(InputError, match="use offsets closer to 0") as err:
        _derive(store, offsets=(-500, -499))
    assert "all" in _one_line(err)
    with pytest.raises(InputError, match="offset -400"):
        run_probes(store, ProbeConfig(offsets=(-1, -400)))


def test_hook_or_model_not_in_store(store):
    with pytest.raises(StoreError, match=r"blocks\.7\.hook_resid_post.*cached hooks") as err:
        _derive(store, hooks=("blocks.7.hook_resid_post",))
    _one_line(err)
    with pytest.raises(StoreError, match="models present: base, reasoner"):
        run_probes(store, ProbeConfig(models=("nope",)))
    with pytest.raises(StoreError, match=r"blocks\.5\.hook_resid_post"):
        run_probes(store, ProbeConfig(layers=("5",)))


def test_nan_activations_and_labels_are_refused(store, planted):
    with h5py.File(store, "r+") as f:
        f[f"activations/base/{HOOKS[1]}"][100, 3] = np.nan
    with pytest.raises(StoreError, match="NaN/inf activations at row 100") as err:
        _derive(store, models=("base",))
    _one_line(err)
    labels = planted.thinking.astype(float)
    labels[5] = np.nan
    write_label(store, "thinking", labels, overwrite=True)
    with pytest.raises(InputError, match="'thinking' has NaN"):
        _derive(store, models=("reasoner",))


def test_directions_of_different_d_model_are_not_compared():
    a = Direction(name="a", vector=torch.ones(4), model="m", hook="h", kind="x")
    b = Direction(name="b", vector=torch.ones(8), model="m", hook="h", kind="x")
    with pytest.raises(InputError, match="different d_model"):
        cosine_matrix([a, b])


def test_bad_configs_name_the_field():
    with pytest.raises(InputError, match="k must be"):
        ProbeConfig(k=0)
    with pytest.raises(InputError, match="no offsets"):
        DirectionConfig(offsets=())
    with pytest.raises(InputError, match="Cs must be positive"):
        ProbeConfig(Cs=(0.0,))
