"""``backtrack directions``: derive, add token baselines, save, and compare, in one call."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from activation_store.direction import Direction, save_direction
from activation_store.preflight import check_model_available, check_output_dir
from activation_store.reader import ActivationStore
from probes.baselines import references, token_baselines
from probes.comparison_report import Comparison, compare, model_space_lookup, write_comparison
from probes.config import DirectionConfig
from probes.diff_of_means import derive_directions
from probes.selection import resolve_models
from probes.token_space import load_token_space

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DirectionRun:
    """What ``build_directions`` produced."""

    directions: list[Direction]
    paths: list[Path]
    """``NAME.safetensors`` of each saved direction (the JSON sidecar sits beside it)."""
    comparison: Comparison | None
    out: Path


def build_directions(
    store_path: str | Path, config: DirectionConfig, out: str | Path
) -> DirectionRun:
    """Derive every direction and baseline of ``config`` from the store, save them into ``out``
    (``NAME.safetensors`` + ``NAME.json``, plus ``directions_config.json``), and compare them."""
    out = Path(out)
    check_output_dir(out)
    with ActivationStore(store_path) as store:
        if config.token_baselines or config.logit_lens:  # their models load after deriving
            for model in resolve_models(store, config.models):
                model_id = str(store.model_attrs(model).get("model_id", ""))
                if model_id:
                    check_model_available(model_id, f"model_id of store model {model!r}")
        derived = derive_directions(store, config)
    directions = list(derived)
    if config.token_baselines:
        directions += _token_baselines(derived, config)
    out.mkdir(parents=True, exist_ok=True)
    paths = [save_direction(d, out) for d in directions]
    (out / "directions_config.json").write_text(
        json.dumps({"store": str(store_path), **asdict(config)}, indent=2) + "\n"
    )
    comparison = None
    if config.logit_lens:
        space_for = model_space_lookup(device=config.device, dtype=config.dtype)
        comparison = compare(
            directions, space_for, words=config.tokens, flag_cosine=config.flag_cosine
        )
        write_comparison(comparison, out)
    log.info("saved %d directions into %s", len(directions), out)
    return DirectionRun(directions=directions, paths=paths, comparison=comparison, out=out)


def _token_baselines(derived: list[Direction], config: DirectionConfig) -> list[Direction]:
    out: list[Direction] = []
    for d in derived:
        if d.kind != "diff_of_means":
            continue
        space = load_token_space(str(d.provenance["model_id"]), config.device, config.dtype)
        base = {k: d.provenance[k] for k in ("store", "model_key", "model_id", "config")}
        (reference,) = references([d])
        out += token_baselines(
            space, reference, config.tokens, suffix=config.suffix, provenance=base
        )
    return out
