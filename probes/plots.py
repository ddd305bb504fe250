"""Figures (PNG and SVG): AUROC heatmaps, base-vs-reasoning curves with CI bands, cosine matrices."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from activation_store.models.hooks import parse_hook
from probes.probe_eval import ProbeResult

if TYPE_CHECKING:
    from probes.similarity import CosineMatrix


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, stem: Path) -> list[Path]:
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    _pyplot().close(fig)
    return paths


def _grid(results: Sequence[ProbeResult], model: str) -> tuple[list[str], list[int], np.ndarray]:
    rows = [r for r in results if r.model == model]
    hooks = sorted(
        {r.hook for r in rows}, key=lambda h: (next(r.layer for r in rows if r.hook == h), h)
    )
    offsets = sorted({r.offset for r in rows})
    grid = np.full((len(hooks), len(offsets)), np.nan)
    for r in rows:
        grid[hooks.index(r.hook), offsets.index(r.offset)] = r.auroc
    return hooks, offsets, grid


def _layer_label(hook: str) -> str:
    layer = parse_hook(hook).layer
    return hook if layer is None else str(layer)


def plot_auroc_heatmaps(results: Sequence[ProbeResult], stem: Path) -> list[Path]:
    """Test AUROC by layer (rows) × offset (columns), one panel per model."""
    plt = _pyplot()
    models = list(dict.fromkeys(r.model for r in results))
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.5), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        hooks, offsets, grid = _grid(results, model)
        im = ax.imshow(grid, aspect="auto", origin="lower", vmin=0.5, vmax=1.0, cmap="viridis")
        ax.set_xticks(range(len(offsets)), [str(o) for o in offsets], fontsize=7)
        labels = [_layer_label(h) for h in hooks]
        ax.set_yticks(range(len(hooks)), labels, fontsize=7)
        ax.set_xlabel("offset from backtracking start (tokens)")
        ax.set_ylabel("layer")
        ax.set_title(f"{model}: probe AUROC (test)")
        fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, stem)


def plot_model_curves(results: Sequence[ProbeResult], stem: Path) -> list[Path]:
    """AUROC vs offset at the best layer and vs layer at the best offset, one line per model with
    its 95 % CI band; token-identity baseline dashed, shuffled-label control dotted."""
    plt = _pyplot()
    by_layer: dict[int, list[float]] = defaultdict(list)
    by_offset: dict[int, list[float]] = defaultdict(list)
    for r in results:
        by_layer[r.layer].append(r.auroc)
        by_offset[r.offset].append(r.auroc)
    best_layer = max(by_layer, key=lambda k: np.nanmean(by_layer[k]))
    best_offset = max(by_offset, key=lambda k: np.nanmean(by_offset[k]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for i, model in enumerate(dict.fromkeys(r.model for r in results)):
        color = f"C{i}"
        rows = sorted(
            (r for r in results if r.model == model and r.layer == best_layer),
            key=lambda r: r.offset,
        )
        _curve(ax1, [r.offset for r in rows], rows, color, model)
        rows = sorted(
            (r for r in results if r.model == model and r.offset == best_offset),
            key=lambda r: r.layer,
        )
        _curve(ax2, [r.layer for r in rows], rows, color, model)
    ax1.set_xlabel("offset from backtracking start (tokens)")
    ax1.set_title(f"layer {best_layer}")
    ax2.set_xlabel("layer")
    ax2.set_title(f"offset {best_offset}")
    for ax in (ax1, ax2):
        ax.set_ylabel("test AUROC")
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.legend(fontsize=7)
    return _save(fig, stem)


def _curve(ax: Any, x: list[int], rows: list[ProbeResult], color: str, model: str) -> None:
    ax.plot(x, [r.auroc for r in rows], color=color, marker="o", ms=3, label=f"{model} probe")
    ax.fill_between(
        x, [r.auroc_lo for r in rows], [r.auroc_hi for r in rows], color=color, alpha=0.2
    )
    if any(np.isfinite(r.token_auroc) for r in rows):
        ax.plot(
            x,
            [r.token_auroc for r in rows],
            color=color,
            ls="--",
            lw=1,
            label=f"{model} token baseline",
        )
    if any(np.isfinite(r.shuffled_auroc) for r in rows):
        ax.plot(
            x,
            [r.shuffled_auroc for r in rows],
            color=color,
            ls=":",
            lw=1,
            label=f"{model} shuffled",
        )


def plot_cosines(cos: CosineMatrix, stem: Path) -> list[Path]:
    """The cosine matrix as a heatmap (−1…1)."""
    plt = _pyplot()
    n = len(cos.names)
    size = min(2 + 0.3 * n, 30)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(cos.values, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), cos.names, rotation=90, fontsize=6)
    ax.set_yticks(range(n), cos.names, fontsize=6)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, stem)
