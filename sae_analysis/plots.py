"""Figures of a decomposition, each written as PNG and SVG, byte-identical for the same input.

- ``explained_variance``: explained variance of the k-feature sparse reconstruction vs k, with the
  unexplained share at K marked;
- ``coefficients``: each chosen feature's signed contribution (coefficient × |decoder row| /
  |direction|) in OMP order;
- ``decoder_map``: UMAP of decoder rows coloured by cosine with the direction, reported features
  labelled.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sae_analysis.maps import DecoderMap
from sae_analysis.result import Decomposition

FORMATS = ("png", "svg")
_STYLE: dict[str, Any] = {
    "svg.hashsalt": "backtrack-toolkit",
    "svg.fonttype": "path",
    "font.size": 9,
}


def _style() -> AbstractContextManager[None]:
    """Fixed rcParams: the SVG id salt makes SVGs byte-identical run to run."""
    return rc_context(_STYLE)  # type: ignore[arg-type]


def _save(fig: Figure, stem: Path) -> list[Path]:
    FigureCanvasAgg(fig)
    paths = []
    for fmt in FORMATS:
        path = stem.with_suffix(f".{fmt}")
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(path, format=fmt, dpi=150, metadata=metadata, bbox_inches="tight")
        paths.append(path)
    return paths


def plot_explained_variance(result: Decomposition, stem: Path) -> list[Path]:
    """Explained variance vs k (PNG + SVG at ``stem``)."""
    ev = result.sparse.explained_variance
    with _style():
        fig = Figure(figsize=(4.5, 3.2))
        ax = fig.add_subplot()
        ks = list(range(1, len(ev) + 1))
        ax.plot(ks, ev, marker="o", markersize=3, color="tab:blue")
        ax.axhline(1.0, color="grey", linewidth=0.6, linestyle="--")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("k (features in the sparse reconstruction)")
        ax.set_ylabel("explained variance of the direction")
        ax.set_title(
            f"{result.direction['name']}: {result.unexplained_share:.1%} unexplained at k={len(ev)}"
        )
        return _save(fig, stem)


def plot_coefficients(result: Decomposition, stem: Path) -> list[Path]:
    """Signed contributions of the chosen features (PNG + SVG at ``stem``)."""
    chosen = [f for f in result.features if f.omp_rank is not None]
    with _style():
        fig = Figure(figsize=(4.5, 0.6 + 0.22 * max(len(chosen), 1)))
        ax = fig.add_subplot()
        values = [f.contribution or 0.0 for f in chosen]
        labels = [f"f{f.index}" for f in chosen]
        colors = ["tab:red" if v >= 0 else "tab:blue" for v in values]
        ax.barh(range(len(chosen)), values, color=colors)
        ax.set_yticks(range(len(chosen)), labels)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_xlabel("coefficient × |decoder row| / |direction|")
        ax.set_title(f"{result.direction['name']}: sparse reconstruction (OMP order)")
        return _save(fig, stem)


def plot_decoder_map(result: Decomposition, decoder_map: DecoderMap, stem: Path) -> list[Path]:
    """UMAP of decoder rows coloured by cosine with the direction (PNG + SVG at ``stem``)."""
    cos = decoder_map.cosines
    limit = float(max(abs(cos.min()), abs(cos.max()), 1e-6))
    with _style():
        fig = Figure(figsize=(5.5, 4.5))
        ax = fig.add_subplot()
        order = abs(cos).argsort()  # strongest on top
        points = ax.scatter(
            decoder_map.xy[order, 0],
            decoder_map.xy[order, 1],
            c=cos[order],
            cmap="coolwarm",
            vmin=-limit,
            vmax=limit,
            s=4,
            linewidths=0,
        )
        position = {int(i): k for k, i in enumerate(decoder_map.indices)}
        for index in decoder_map.labelled:
            k = position.get(index)
            if k is not None:
                x, y = decoder_map.xy[k]
                ax.scatter([x], [y], s=18, facecolors="none", edgecolors="black", linewidths=0.6)
                ax.annotate(
                    f"f{index}", (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points"
                )
        fig.colorbar(points, ax=ax, label="cosine with the direction")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"decoder rows of {result.sae['sae_id']} (UMAP, {len(cos)} rows)")
        return _save(fig, stem)
