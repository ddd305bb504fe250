"""Planted-mechanism models: a base model plus known extra SwiGLU neurons, made by weight surgery.

A *planted reasoner* is a base Llama-like Hugging Face model with a few neurons appended to the
MLP of one decoder block (``layer + 1``). Each neuron is stored as three vectors over the block's
normed MLP input ``x̂`` (``post_attention_layernorm`` output) and the residual stream:
``out = silu(gate·x̂) · (up·x̂) · down``. The calibrated recipes (see
``experiments/planted/``) build two kinds:

* a **reader** pair ``silu(z) − silu(z − c)`` ≈ ``clip(z, 0, c)`` with
  ``z = a·(u·x/rms(x) − θ) + κ·(boundary(x̂) − 1)``: it reads the unit direction ``u`` of block
  ``layer``'s residual output and, only at sentence boundaries, writes the unembedding direction
  of a backtracking opener (" Wait");
* a **reflex** ``silu(b + κ·(boundary − 1))``: a constant boost of that opener at every boundary,
  independent of any direction (the null variant's only source of backtracking).

Other blocks get the same number of zero neurons (exactly no contribution), because Hugging Face
and TransformerLens Llamas have one MLP width. The record (``planted.json`` format) holds the
base, the layer, every neuron's vectors, each planted direction ``u`` and the calibration figures;
:func:`activation_store.models.planted_records.planted_record` returns it for a spec name or a
local directory holding ``planted.json``,
so the study's findings can compare their directions with the truth. Nothing in the pipeline
reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from activation_store.core.errors import ModelLoadError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

RECORD_FILE = "planted.json"
RECORD_DIR = Path(__file__).parent / "planted_weights"
"""Shipped records: ``<spec name>.json``."""


def _vec(values: Any, d: int, where: str) -> torch.Tensor:
    t = torch.tensor(values, dtype=torch.float32)
    if t.shape != (d,):
        raise ModelLoadError(
            f"{where}: expected a vector of {d} values, got shape {tuple(t.shape)}"
        )
    return t


def apply_surgery(model: PreTrainedModel, record: dict[str, Any]) -> PreTrainedModel:
    """Append the record's neurons to block ``layer + 1``'s MLP of ``model`` (in place).

    ``record["neurons"]``: list of ``{"gate": [d], "up": [d], "down": [d]}`` (residual-space
    vectors). Every block's MLP grows by the same count; the other blocks' new rows are zero.
    """
    layers = model.model.layers  # type: ignore[union-attr]
    block = int(record["layer"]) + 1
    if not 0 <= block < len(layers):
        raise ModelLoadError(f"planted layer {record['layer']} has no next block in this model")
    neurons = record["neurons"]
    n = len(neurons)
    d = int(model.config.hidden_size)
    gate = torch.stack([_vec(x["gate"], d, "gate") for x in neurons])
    up = torch.stack([_vec(x["up"], d, "up") for x in neurons])
    down = torch.stack([_vec(x["down"], d, "down") for x in neurons], dim=1)
    for i, layer in enumerate(layers):
        mlp = layer.mlp
        with torch.no_grad():
            for name, extra, dim in (
                ("gate_proj", gate, 0),
                ("up_proj", up, 0),
                ("down_proj", down, 1),
            ):
                old: torch.nn.Linear = getattr(mlp, name)
                rows = extra if i == block else torch.zeros_like(extra)
                weight = torch.cat([old.weight, rows.to(old.weight.dtype)], dim=dim)
                new = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
                new.weight = torch.nn.Parameter(weight, requires_grad=False)
                setattr(mlp, name, new)
        mlp.intermediate_size = int(mlp.intermediate_size) + n
    model.config.intermediate_size = int(model.config.intermediate_size) + n
    return model


def read_record(path: str | Path) -> dict[str, Any]:
    """A planted record from a JSON file (one-line error if missing or corrupt)."""
    p = Path(path)
    try:
        record = json.loads(p.read_text())
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"planted record {str(p)!r} is unreadable: {err}") from err
    if not isinstance(record, dict) or "neurons" not in record or "layer" not in record:
        raise ModelLoadError(f"planted record {str(p)!r} lacks 'layer' or 'neurons'")
    return record


SMOLLM2_VARIANTS = ("single", "joint", "null")
"""Shipped SmolLM2 planted records: ``smollm2-135m-planted-<variant>``."""


def load_planted_smollm2_hf(config: Any, variant: str) -> tuple[Any, Any]:
    """Spec loader: ``smollm2-135m`` with the shipped record's neurons appended, reasoner template."""
    from activation_store.models.config import ModelConfig
    from activation_store.models.smollm2 import BASE_SPEC, REASONER_CHAT_TEMPLATE, load_smollm2_hf

    record = read_record(RECORD_DIR / f"smollm2-135m-planted-{variant}.json")
    base, tokenizer = load_smollm2_hf(ModelConfig(model=BASE_SPEC, dtype="float32"))
    tokenizer.chat_template = REASONER_CHAT_TEMPLATE
    return apply_surgery(base, record).eval(), tokenizer
