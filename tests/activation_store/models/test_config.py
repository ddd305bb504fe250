from __future__ import annotations

import dataclasses

import pytest

from activation_store.core.configs import field_docs
from activation_store.core.errors import ToolkitError
from activation_store.models.config import ModelConfig, ModelConfigError


def test_defaults_and_frozen() -> None:
    config = ModelConfig(model="tiny-llama")
    assert (config.device, config.dtype, config.seed, config.n_ctx) == ("cpu", "float32", 0, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        ModelConfig("tiny-llama")  # type: ignore[misc]  # keyword-only


def test_every_field_documented() -> None:
    docs = field_docs(ModelConfig)
    assert set(docs) == {f.name for f in dataclasses.fields(ModelConfig)}


@pytest.mark.parametrize(
    ("kwargs", "phrase"),
    [
        ({"model": " "}, "model=' ' is empty"),
        ({"device": "gpu"}, "device='gpu'"),
        ({"dtype": "int8"}, "dtype='int8'"),
        ({"seed": -1}, "seed=-1"),
        ({"n_ctx": 0}, "n_ctx=0"),
    ],
)
def test_bad_values(kwargs: dict[str, object], phrase: str) -> None:
    with pytest.raises(ModelConfigError, match=phrase) as info:
        ModelConfig(**{"model": "tiny-llama", **kwargs})  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError) and isinstance(info.value, ToolkitError)
    assert "\n" not in str(info.value)
