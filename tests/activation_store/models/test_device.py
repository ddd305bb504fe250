from __future__ import annotations

import pytest
import torch

from activation_store.core.errors import ModelLoadError
from activation_store.models.device import resolve_device, resolve_dtype


def test_cpu_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_gpu(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelLoadError) as info:
        resolve_device(name)
    message = str(info.value)
    assert "\n" not in message
    assert f"--device {name} requested but no CUDA GPU is visible" in message
    assert "use --device cpu" in message


def test_cuda_index_out_of_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    with pytest.raises(
        ModelLoadError, match=r"only 1 CUDA GPU\(s\) are visible \(cuda:0..cuda:0\)"
    ):
        resolve_device("cuda:3")


def test_unknown_device() -> None:
    with pytest.raises(ModelLoadError, match="unknown device 'tpu0'"):
        resolve_device("tpu0")


def test_dtypes() -> None:
    assert resolve_dtype("bfloat16") is torch.bfloat16
    assert resolve_dtype("float32") is torch.float32
    with pytest.raises(ModelLoadError, match="unsupported dtype 'fp8'; use one of float32"):
        resolve_dtype("fp8")
