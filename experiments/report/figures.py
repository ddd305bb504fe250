"""The report's figures (matplotlib, headless), each saved as SVG and PNG."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

BASELINE_STYLE = {
    "random": {"color": "0.55", "linestyle": ":"},
    "embedding": {"color": "0.35", "linestyle": "--"},
    "unembedding": {"color": "0.2", "linestyle": "-."},
    "mean_activation": {"color": "0.45", "linestyle": "--"},
    "offset0": {"color": "0.65", "linestyle": "-."},
}
"""Baselines are drawn in greys; the directions under test in colour."""
METRIC_LABELS = {
    "coherent_backtracking_sentences": "backtracking sentences / generation\n(degenerate = 0)",
    "backtracking_sentences": "backtracking sentences / generation",
    "wait_hmm_fraction": "share of words 'wait'/'hmm'",
    "perplexity": "perplexity under unsteered model",
    "degenerate": "share of degenerate generations",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, stem: Path) -> list[Path]:
    """``stem.svg`` and ``stem.png`` (150 dpi); closes the figure."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".svg"), stem.with_suffix(".png")]
    for path in paths:
        fig.savefig(
            path,
            dpi=150,
            bbox_inches="tight",
            metadata={"Date": None} if path.suffix == ".svg" else None,
        )
    _pyplot().close(fig)
    return paths


def alpha_curves(
    summary: dict[str, Any], metric: str
) -> dict[str, dict[str, list[tuple[float, dict[str, Any]]]]]:
    """model → direction group → [(α, estimate)], the unsteered cell as every curve's α = 0."""
    cells = summary["cells"]
    zero = {c["model"]: c["metrics"].get(metric) for c in cells if c["operation"] == "none"}
    curves: dict[str, dict[str, list[tuple[float, dict[str, Any]]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for c in cells:
        if c["operation"] == "add" and metric in c["metrics"]:
            curves[c["model"]][c["group"]].append((c["alpha"], c["metrics"][metric]))
    for model, groups in curves.items():
        for points in groups.values():
            if zero.get(model) is not None:
                points.append((0.0, zero[model]))
            points.sort(key=lambda p: p[0])
    return {m: dict(g) for m, g in curves.items()}


def plot_alpha_curves(
    summary: dict[str, Any], metric: str, stem: Path, kinds: dict[str, str]
) -> list[Path]:
    """One panel per model: ``metric`` vs α per direction, with the CI as a band."""
    plt = _pyplot()
    curves = alpha_curves(summary, metric)
    if not curves:
        return []
    fig, axes = plt.subplots(
        1, len(curves), figsize=(5.2 * len(curves), 3.8), squeeze=False, sharey=True
    )
    for ax, (model, groups) in zip(axes[0], curves.items(), strict=True):
        for group, points in sorted(groups.items()):
            kind = kinds.get(group, "joint" if "+" in group else "?")
            style = BASELINE_STYLE.get(kind, {})
            xs = [p[0] for p in points]
            means = [p[1]["mean"] for p in points]
            (line,) = ax.plot(xs, means, marker="o", ms=3, label=f"{group} ({kind})", **style)
            lo, hi = [p[1]["lo"] for p in points], [p[1]["hi"] for p in points]
            ax.fill_between(xs, lo, hi, alpha=0.12, color=line.get_color(), linewidth=0)
        ax.set_title(f"model: {model}")
        ax.set_xlabel(f"α ({summary.get('alpha_unit') or 'unit'})")
        ax.axvline(0, color="0.85", lw=0.8, zorder=0)
    axes[0][0].set_ylabel(METRIC_LABELS.get(metric, metric))
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(
        f"{METRIC_LABELS.get(metric, metric).splitlines()[0]} vs steering strength (95 % CI over prompts)",
        fontsize=10,
    )
    return save(fig, stem)


def _panel(row: dict[str, Any]) -> str:
    mode = row.get("mode", "zero")
    return row["model"] if mode == "zero" else f"{row['model']} (mean-ablation)"


def plot_dose_response(rows: Sequence[dict[str, Any]], metric: str, stem: Path) -> list[Path]:
    """Effect of ablating the first k directions vs k, against the range of random k-subspaces."""
    plt = _pyplot()
    rows = [r for r in rows if r["metric"] == metric]
    panels = list(dict.fromkeys(_panel(r) for r in rows))  # model, and ablation mode
    if not panels:
        return []
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False, sharey=True
    )
    for ax, model in zip(axes[0], panels, strict=True):
        mine = [r for r in rows if _panel(r) == model]
        ks = [r["k"] for r in mine]
        rand = [r["random"] for r in mine]
        if any(x["n_subspaces"] for x in rand):
            # k without random subspaces (e.g. the single directions) have None: a gap, not a point.
            lo, hi, mean = (
                np.array([x[key] for x in rand], dtype=float)
                for key in ("min_effect", "max_effect", "mean_effect")
            )
            ax.fill_between(ks, lo, hi, color="0.8", label="random k-subspaces (range)")
            ax.plot(ks, mean, color="0.5", ls=":", label="random (mean)")
        for r in mine:
            for d in r["directions"]:
                e = d["effect"]
                if e is None:
                    continue
                yerr = [[e["diff"] - e["lo"]], [e["hi"] - e["diff"]]]
                ax.errorbar([r["k"]], [e["diff"]], yerr=yerr, fmt="o", capsize=3, label=d["group"])
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xticks(sorted(set(ks)))
        ax.set_xlabel("k (directions ablated together)")
        ax.set_title(f"model: {model}")
    axes[0][0].set_ylabel(
        f"Δ {METRIC_LABELS.get(metric, metric).splitlines()[0]}\n(ablated − unablated)"
    )
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(
        "Joint mediation: dose-response of directional ablation (95 % CI over prompts)", fontsize=10
    )
    return save(fig, stem)


def plot_auroc_heatmaps(rows: Sequence[dict[str, Any]], stem: Path) -> list[Path]:
    """Probe AUROC per layer × offset, one panel per model (from the probes step's results.json)."""
    plt = _pyplot()
    models = list(dict.fromkeys(r["model"] for r in rows))
    if not models:
        return []
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        mine = [r for r in rows if r["model"] == model and r.get("auroc") is not None]
        layers = sorted({r["layer"] for r in mine})
        offsets = sorted({r["offset"] for r in mine})
        grid = [[float("nan")] * len(offsets) for _ in layers]
        for r in mine:
            grid[layers.index(r["layer"])][offsets.index(r["offset"])] = r["auroc"]
        image = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis", vmin=0.5, vmax=1.0)
        ax.set_xticks(range(len(offsets)), [str(o) for o in offsets], fontsize=7)
        ax.set_yticks(range(len(layers)), [str(layer) for layer in layers], fontsize=7)
        ax.set_xlabel("offset from backtracking start")
        ax.set_ylabel("layer")
        ax.set_title(f"probe AUROC: {model}")
        fig.colorbar(image, ax=ax, fraction=0.046)
    return save(fig, stem)
