"""A comparison report over a set of directions: cosine matrix, logit lens, token similarity.

Written as ``comparison.json`` (everything), ``cosines.csv`` and ``cosines.png``/``.svg`` beside the
directions.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from activation_store.direction import Direction
from probes.config import DEFAULT_TOKENS
from probes.similarity import (
    CosineMatrix,
    LogitLens,
    TokenSimilarity,
    cosine_matrix,
    logit_lens,
    token_similarity,
)
from probes.token_space import TokenSpace, load_token_space

log = logging.getLogger(__name__)

SpaceFor = Callable[[Direction], "TokenSpace | None"]


@dataclass(frozen=True)
class Comparison:
    cosines: CosineMatrix
    lenses: list[LogitLens]
    similarities: list[TokenSimilarity]
    skipped_lens: list[str]
    """Directions without a known model to read them through (no model_id in provenance)."""


def model_space_lookup(
    overrides: Mapping[str, str] | None = None, *, device: str = "cpu", dtype: str = "float32"
) -> SpaceFor:
    """Find each direction's model: ``overrides[direction.model]``, else its provenance's model_id."""

    def space_for(d: Direction) -> TokenSpace | None:
        model_id = (overrides or {}).get(d.model) or d.provenance.get("model_id")
        return load_token_space(str(model_id), device, dtype) if model_id else None

    return space_for


def compare(
    directions: Sequence[Direction],
    space_for: SpaceFor,
    *,
    k: int = 10,
    words: Sequence[str] = DEFAULT_TOKENS,
    flag_cosine: float = 0.7,
) -> Comparison:
    """Cosine matrix of all directions, and logit lens + token similarity of each through its model."""
    lenses, sims, skipped = [], [], []
    for d in directions:
        space = space_for(d)
        if space is None or space.d_model != d.d_model:
            skipped.append(d.name)
            continue
        lenses.append(logit_lens(d, space, k=k, words=words))
        sims.append(token_similarity(d, space, flag_cosine=flag_cosine))
    if skipped:
        log.warning("no model weights for %s: logit lens skipped", ", ".join(skipped))
    for s in sims:
        if s.flagged:
            log.warning(
                "%s is nearly a token: cos %.2f with embedding of %r, %.2f with unembedding of %r",
                s.direction,
                s.max_embed_cosine,
                s.embed_token,
                s.max_unembed_cosine,
                s.unembed_token,
            )
    return Comparison(cosine_matrix(directions), lenses, sims, skipped)


def write_comparison(comparison: Comparison, out: str | Path, *, plot: bool = True) -> Path:
    """Write ``comparison.json``, ``cosines.csv`` (and the heatmap) into ``out``; returns the JSON."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cos = comparison.cosines
    payload: dict[str, Any] = {
        "cosines": {"names": cos.names, "values": cos.values.round(6).tolist()},
        "logit_lens": [asdict(x) for x in comparison.lenses],
        "token_similarity": [asdict(x) for x in comparison.similarities],
        "lens_skipped": comparison.skipped_lens,
    }
    path = out / "comparison.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    with open(out / "cosines.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["direction", *cos.names])
        for name, row in zip(cos.names, cos.values, strict=True):
            writer.writerow([name, *(f"{v:.6f}" for v in row)])
    if plot and cos.names:
        from probes.plots import plot_cosines

        plot_cosines(cos, out / "cosines")
    return path
