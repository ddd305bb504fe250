"""Per-row interventions: rows of different cells in one continuous batch get exactly what each
cell's own batch gets under ``steer_hf`` (tokens and changed-position counts)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from activation_store.core.errors import InputError
from activation_store.models import LoadedModel
from experiments.generation import GenerationConfig, generate, generate_continuous
from experiments.generation.sampling import row_seeds
from experiments.steering.interventions import (
    ablate_interventions,
    ablate_then_add_interventions,
    add_interventions,
    steer_hf,
)
from experiments.steering.interventions.rows import steer_hf_rows

from ..conftest import encode, make_direction

TEXTS = ("Wait, 17 × 25 = 425.", "But wait.", "Let me think about it.", "Hmm", "1 2 3 4 5 6")
SYSTEM = "System: you are a careful assistant; check every step. "  # a shared prompt prefix


def _cells(d_model: int = 64, layers: tuple[int, int] = (0, 1)) -> list[list[Any]]:
    hook0, hook1 = (f"blocks.{i}.hook_resid_post" for i in layers)
    d = [make_direction(f"d{i}", seed=i, hook=hook1, d_model=d_model) for i in range(4)]
    return [
        [],  # unsteered
        add_interventions([d[0]], [8.0], positions="generated"),
        add_interventions([d[1]], [-6.0], hooks=[hook0]),
        ablate_interventions([d[2], d[3]], [hook0, hook1], positions="prompt"),
        add_interventions([d[0], d[1]], [0.5, 0.5], unit="mean_resid_norm", positions="2:7"),
        ablate_then_add_interventions([d[2]], [d[3]], [4.0], [hook1]),
        add_interventions([d[3]], [0.0]),  # α = 0: bit-identical to unsteered
    ]


def _mixed(model: Any, tok: Any, prompts: list[list[int]], cells: list[Any], cfg: Any) -> Any:
    requests = [(c, i) for c in range(len(cells)) for i in range(len(prompts))]
    seeds = [row_seeds(cfg.seed, [prompts[i]])[0] for _, i in requests]
    with steer_hf_rows(model, cells, n_rows=len(requests)) as handle:
        outs = generate_continuous(
            model,
            tok,
            [prompts[i] for _, i in requests],
            GenerationConfig(
                max_new_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature,
                batch_size=5,
                seed=cfg.seed,
            ),
            seeds=seeds,
            on_forward=lambda rows, lens, shared: handle.assign(
                rows, [requests[r][0] for r in rows], lens, shared
            ),
            groups=[c for c, _ in requests],
            progress=False,
        )
    assert not handle.active
    return requests, outs, handle


@pytest.mark.parametrize("prefix", ["", SYSTEM])
@pytest.mark.parametrize("temperature", [0.0, 0.9])
@pytest.mark.parametrize("arch", ["llama", "gpt"])
def test_mixed_cells_equal_each_cell_alone(
    tiny: LoadedModel, tiny_gpt: LoadedModel, temperature: float, arch: str, prefix: str
) -> None:
    loaded = tiny if arch == "llama" else tiny_gpt
    model, tok = loaded.hf_model, loaded.tokenizer
    prompts = encode(loaded, tuple(prefix + t for t in TEXTS))
    cells = _cells(int(model.config.hidden_size))
    cfg = GenerationConfig(max_new_tokens=9, temperature=temperature, batch_size=2, seed=4)
    reference, records = [], []
    for cell in cells:
        with steer_hf(model, cell) as h:
            reference.append(generate(model, tok, prompts, cfg, progress=False))
        records.append(h.record())
    requests, outs, handle = _mixed(model, tok, prompts, cells, cfg)
    for (c, i), out in zip(requests, outs, strict=True):
        assert out.generated_ids == reference[c][i].generated_ids, (c, i)
    for c in range(len(cells)):
        rows = [r for r, (cc, _) in enumerate(requests) if cc == c]
        got = handle.record(c, rows)
        if all(o.finish_reason == "length" for o in reference[c]):
            assert got == records[c]
        else:  # HF generate keeps feeding finished rows (pads, counted); here they have left
            assert [g["positions_changed"]["prompt"] for g in got] == [
                r["positions_changed"]["prompt"] for r in records[c]
            ]
            assert all(
                g["positions_changed"]["generated"] <= r["positions_changed"]["generated"]
                for g, r in zip(got, records[c], strict=True)
                if r["positions"] != "prompt"
            )
    finished_early = [o for o in reference[1] if o.finish_reason != "length"]
    generated = handle.record(1, [r for r, (cc, _) in enumerate(requests) if cc == 1])
    assert generated[0]["positions_changed"]["generated"] == sum(
        len(o.generated_ids) - 1 for o in reference[1]
    ), finished_early  # every generated input but the last token, which is never fed
    assert reference[-1][0].generated_ids == reference[0][0].generated_ids
    assert reference[1][0].generated_ids != reference[0][0].generated_ids


def test_paused_hooks_are_the_identity_and_assign_is_checked(tiny: LoadedModel) -> None:
    model = tiny.hf_model
    ids = torch.tensor([encode(tiny, TEXTS[:1])[0]], device=model.device)
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        with steer_hf_rows(model, _cells(), n_rows=1) as handle:
            with handle.paused():
                assert torch.equal(model(input_ids=ids).logits, plain)
            with pytest.raises(InputError, match="without a matching assign"):
                model(input_ids=ids)
            handle.assign([0], [2], [ids.shape[1]])
            assert not torch.equal(model(input_ids=ids).logits, plain)
            with pytest.raises(InputError, match="cell 9 unknown"):
                handle.assign([0], [9], [3])
        assert torch.equal(model(input_ids=ids).logits, plain)  # removed on exit
