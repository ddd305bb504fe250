"""The study's probe step fits on the GPU (the batched torch backend) whenever the study runs there."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from experiments.study.config import load_study_config
from experiments.study.stages import seed_steps
from probes.config import ProbeConfig


def probe_config(device: str, tmp_path: Path) -> ProbeConfig:
    config = dataclasses.replace(load_study_config("demo_quick"), device=device)
    (probe,) = [
        c for s in seed_steps(config, 0, tmp_path) for c in s.configs if isinstance(c, ProbeConfig)
    ]
    return probe


@pytest.mark.parametrize(
    ("device", "cuda", "backend"),
    [("cpu", True, "sklearn"), ("cuda", False, "torch"), ("cuda:1", False, "torch"),
     ("auto", True, "torch"), ("auto", False, "sklearn")],
)  # fmt: skip
def test_probe_backend_follows_the_device(device, cuda, backend, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    probe = probe_config(device, tmp_path)
    assert probe.backend == backend
    assert probe.device == device


def test_the_real_scale_config_probes_on_the_gpu(tmp_path):
    config = load_study_config("llama31_8b_r1_distill")
    assert config.device.startswith("cuda")
    probes = [
        c for s in seed_steps(config, 0, tmp_path) for c in s.configs if isinstance(c, ProbeConfig)
    ]
    assert probes and all(p.backend == "torch" for p in probes)
