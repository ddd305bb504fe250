from __future__ import annotations

import time

import torch

from activation_store.models.fingerprint import weights_fingerprint
from activation_store.models.tiny import tiny_gpt_hf, tiny_llama_hf


def test_seeds_decide_the_fingerprint() -> None:
    a, b, c = tiny_llama_hf(0), tiny_llama_hf(0), tiny_llama_hf(1)
    assert weights_fingerprint(a) == weights_fingerprint(b)
    assert weights_fingerprint(a) != weights_fingerprint(c)
    assert len(weights_fingerprint(a)) == 16
    assert weights_fingerprint(a) != weights_fingerprint(tiny_gpt_hf(0))


def test_dtype_and_sampled_values_matter() -> None:
    model = tiny_llama_hf(0)
    before = weights_fingerprint(model)
    with torch.no_grad():
        model.model.embed_tokens.weight[0, 0] += 1.0  # element 0 is always sampled
    assert weights_fingerprint(model) != before
    assert weights_fingerprint(model.bfloat16()) != weights_fingerprint(model.float())


def test_layout_does_not_matter_and_large_is_fast() -> None:
    values = torch.randn(3000, 5000)  # 15M elements

    class One(torch.nn.Module):
        def __init__(self, weight: torch.Tensor) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(weight)

    transposed = One(values.t().contiguous().t())  # same values, non-contiguous storage
    assert not transposed.weight.is_contiguous()
    start = time.perf_counter()
    assert weights_fingerprint(One(values)) == weights_fingerprint(transposed)
    assert time.perf_counter() - start < 1.0
