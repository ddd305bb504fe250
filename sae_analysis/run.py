"""``backtrack decompose`` end to end: load, decompose, and write every output into one directory.

``out/`` receives ``decomposition.json`` (features, coefficients, cosines, explained variance,
unexplained share, preflight figures, config), the figures (PNG + SVG), ``report.html`` with a card
per feature under ``cards/``, and the chosen feature set as directions under ``directions/``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from activation_store.direction import Direction, load_direction
from activation_store.preflight import check_model_available, check_output_dir
from activation_store.reader import ActivationStore
from sae_analysis.cards import write_html
from sae_analysis.config import REFUSED_FILE, DecomposeConfig
from sae_analysis.export import save_feature_directions
from sae_analysis.loading import LoadedSae, load_sae
from sae_analysis.pipeline import decompose
from sae_analysis.plots import plot_coefficients, plot_decoder_map, plot_explained_variance
from sae_analysis.result import Decomposition
from sae_analysis.tokenizer import store_decoder

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class DecomposeOutputs:
    """What a run wrote."""

    result: Decomposition
    json: Path
    figures: tuple[Path, ...]
    html: tuple[Path, ...]
    directions: tuple[Path, ...]


def run_decompose(
    direction: str | Path | Direction,
    sae: str | Path | LoadedSae,
    store: str | Path,
    out: str | Path,
    config: DecomposeConfig,
    *,
    tokenizer: str | None = None,
) -> DecomposeOutputs:
    """Decompose ``direction`` (a Direction or its path) into ``sae`` (loaded or a spec) on ``store``
    and write every output into ``out``; ``tokenizer`` overrides the store model's for context text."""
    if not isinstance(direction, Direction):
        direction = load_direction(direction)
    out = Path(out)
    check_output_dir(out)
    if tokenizer is not None:
        check_model_available(tokenizer, "--tokenizer")
    ActivationStore(store).close()  # the store opens (checked before the SAE loads)
    if not isinstance(sae, LoadedSae):
        sae = load_sae(sae, device=config.device, dtype=config.sae_dtype)
    with ActivationStore(store) as opened:
        model = config.model or direction.model
        decode, notes = (
            store_decoder(opened, model, tokenizer) if model in opened.models else (None, [])
        )
        result = decompose(direction, sae, opened, config, decode=decode)
    if notes:
        result = _with_notes(result, notes)
    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(result, sae, out, config)
    html = write_html(
        result, out, [p.relative_to(out).as_posix() for p in figures if p.suffix == ".png"]
    )
    directions = save_feature_directions(result, direction, sae, out / "directions")
    json_path = result.save_json(out / "decomposition.json")
    log.info(
        "wrote %s, %d figures, %d cards, %d directions",
        json_path,
        len(figures),
        len(html) - 1,
        len(directions),
    )
    return DecomposeOutputs(
        result=result,
        json=json_path,
        figures=tuple(figures),
        html=tuple(html),
        directions=tuple(directions),
    )


def write_figures(
    result: Decomposition, sae: LoadedSae, out: Path, config: DecomposeConfig
) -> list[Path]:
    """The explained-variance curve, the coefficient bars and (if enabled) the UMAP map."""
    figures = [
        *plot_explained_variance(result, out / "explained_variance"),
        *plot_coefficients(result, out / "coefficients"),
    ]
    if config.umap:
        from sae_analysis.maps import decoder_map

        mapped = decoder_map(
            sae.sae.W_dec,
            result.cosine.cosines,
            [f.index for f in result.features],
            sample=config.umap_sample,
            n_neighbors=config.umap_neighbors,
            seed=config.seed,
        )
        if mapped is not None:
            figures += plot_decoder_map(result, mapped, out / "decoder_map")
    return figures


def _with_notes(result: Decomposition, notes: list[str]) -> Decomposition:
    from dataclasses import replace

    return replace(result, warnings=(*result.warnings, *notes))


def record_refusal(out: str | Path, reason: str, *, direction: str, sae: str) -> Path:
    """``OUT/refused.json``: why the decomposition of ``direction`` into ``sae`` was not made."""
    import json

    path = Path(out) / REFUSED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"refused": reason, "direction": str(direction), "sae": str(sae)}))
    return path
