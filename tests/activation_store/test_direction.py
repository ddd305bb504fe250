from __future__ import annotations

import pytest
import torch

from activation_store.core.errors import InputError
from activation_store.direction import (
    Direction,
    check_same_space,
    load_direction,
    load_directions,
    save_direction,
)


def make(name="base_L1_dom", d=8, **kw):
    return Direction(
        name=name,
        vector=torch.arange(d, dtype=torch.float32) + 1,
        model="base",
        hook="blocks.1.hook_resid_post",
        kind="diff_of_means",
        mean_resid_norm=12.5,
        provenance={"offsets": [-12, -8], "n_events": 40},
        **kw,
    )


def test_round_trip_by_path_and_by_name(tmp_path):
    d = make()
    path = save_direction(d, tmp_path)
    for ref in (path, path.with_suffix(".json"), path.with_suffix("")):
        back = load_direction(ref)
        assert torch.equal(back.vector, d.vector)
        assert back.metadata() == d.metadata()
    assert load_direction("base_L1_dom", directory=tmp_path).layer == 1
    assert torch.allclose(d.unit.norm(), torch.tensor(1.0))
    assert [x.name for x in load_directions(tmp_path)] == ["base_L1_dom"]


def test_missing_direction_lists_what_is_there(tmp_path):
    save_direction(make(), tmp_path)
    with pytest.raises(InputError, match="base_L1_dom") as err:
        load_direction("nope", directory=tmp_path)
    assert "\n" not in str(err.value)


def test_bad_directions_are_refused():
    with pytest.raises(InputError, match="file-safe"):
        make(name="a/b")
    with pytest.raises(InputError, match="zero norm"):
        _ = Direction(name="z", vector=torch.zeros(4), model="m", hook="h", kind="k").unit
    with pytest.raises(InputError, match="NaN"):
        Direction(name="n", vector=torch.tensor([1.0, float("nan")]), model="m", hook="h", kind="k")
    with pytest.raises(InputError, match="different d_model"):
        check_same_space([make(d=8), make(name="other", d=16)])


def test_corrupt_file_is_a_one_line_error(tmp_path):
    path = save_direction(make(), tmp_path)
    path.write_bytes(b"garbage")
    with pytest.raises(InputError, match="corrupt"):
        load_direction(path)


def test_names_with_dots_round_trip(tmp_path):
    d = make(name="base_L1.v2+sae_f3")
    path = save_direction(d, tmp_path)
    assert path.name == "base_L1.v2+sae_f3.safetensors"
    assert load_direction("base_L1.v2+sae_f3", directory=tmp_path).name == d.name
    assert load_direction(tmp_path / "base_L1.v2+sae_f3").name == d.name
    assert [x.name for x in load_directions(tmp_path)] == [d.name]
