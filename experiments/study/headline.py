"""The study's headline figure: the four questions in four panels, from ``findings.json``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from experiments.report.figures import METRIC_LABELS, _pyplot, save


def _seed_mean(by_seed: dict[str, list[float]]) -> np.ndarray:
    rows = np.array(list(by_seed.values()), dtype=float)
    return np.nanmean(rows, axis=0) if rows.size else rows


def _mean(values: list[float | None]) -> float:
    """Mean of the finite values (NaN where there are none, e.g. no random 1-subspaces)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def plot_headline(findings: dict[str, Any], stem: Path) -> Path:
    """Draw the four panels; returns the PNG path (an SVG is written beside it)."""
    plt = _pyplot()
    fig, grid = plt.subplots(2, 2, figsize=(13, 8.5))
    axes = grid.ravel()
    curves, alphas = findings["curves"], findings["alphas"]
    metric_label = METRIC_LABELS.get(findings["metric"], findings["metric"])
    seeds = len(findings["seeds"])

    ax = axes[0]
    colours = {"base direction": "C0", "reasoner direction": "C1", "random": "0.55"}
    for key, by_seed in curves["steering"].items():
        model, _, what = key.partition(": ")
        ax.plot(alphas, _seed_mean(by_seed), marker="o", ms=3, color=colours.get(what, "k"),
                linestyle="-" if model == "reasoner" else "--", label=key)  # fmt: skip
    ax.set(xlabel="α (× mean residual norm)", ylabel=metric_label,
           title=f"Steering (mean of {seeds} seed{'s' * (seeds > 1)})")  # fmt: skip
    ax.legend(fontsize=7)

    ax = axes[1]
    effects = [e for a in findings["answers"] if a["key"] in ("q1", "q2") for e in a["effects"]]
    unique = {e["label"]: e for e in effects}
    labels = list(unique)
    for i, label in enumerate(labels):
        e = unique[label]
        if not math.isnan(e["diff"]):
            ax.errorbar(e["diff"], i, xerr=[[e["diff"] - e["lo"]], [e["hi"] - e["diff"]]],
                        fmt="o", color="C3" if label.startswith("base model") else "C0", capsize=3)  # fmt: skip
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(range(len(labels)), [lbl.replace(": ", ":\n") for lbl in labels], fontsize=7)
    ax.set(xlabel=f"Δ at α = {findings['headline_alpha']:g} (95 % CI): opener log-odds at decision "
           f"points, else {findings['metric']} per generation",
           title="Q1–Q2: vs baselines; base-model control")  # fmt: skip

    ax = axes[2]
    probes = curves["probes"]
    offsets = sorted(int(o) for o in probes)
    ax.plot(offsets, [probes[str(o)]["auroc"] for o in offsets], marker="o", ms=3, label="probe")
    ax.plot(offsets, [probes[str(o)]["token"] for o in offsets], "--", color="0.4",
            label="token identity")  # fmt: skip
    if all("structure" in probes[str(o)] for o in offsets):
        ax.plot(offsets, [probes[str(o)]["structure"] for o in offsets], ":", color="0.4",
                label="structure (layout)")  # fmt: skip
    if all("base" in probes[str(o)] for o in offsets):
        ax.plot(offsets, [probes[str(o)]["base"] for o in offsets], marker="o", ms=3,
                color="C3", label="base model's probe (control)")  # fmt: skip
    ax.axhline(0.5, color="0.7", lw=0.8)
    ax.set(xlabel="offset from backtracking start (tokens)", ylabel="test AUROC",
           title="Q3: probes read out upcoming backtracking")  # fmt: skip
    ax.legend(fontsize=7)

    ax = axes[3]
    dose = curves["ablation"]
    ks = sorted(int(k) for k in dose)
    for what, colour in (("directions", "C2"), ("random", "0.55")):
        ys = [_mean([v for key, v in dose[str(k)].items() if key.startswith(what)]) for k in ks]
        ax.plot(
            ks,
            ys,
            marker="o",
            color=colour,
            label="first k directions" if what == "directions" else "random k-subspaces",
        )
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xticks(ks)
    ax.set(xlabel="k (directions projected out)", ylabel=f"Δ {findings['metric']} vs unablated",
           title="Q4: joint ablation")  # fmt: skip
    ax.legend(fontsize=7)
    fig.suptitle(f"{findings['study']}: backtracking directions, {seeds} seed(s)", fontsize=11)
    fig.tight_layout()
    paths = save(fig, stem)
    return next(p for p in paths if p.suffix == ".png")


def plot_decisions(findings: dict[str, Any], stem: Path) -> Path | None:
    """The decision-point dose-response: Δ opener log-odds vs α and vs KL (how far the direction
    moved the next-token distribution), reasoner and base model, base and reasoner directions and
    the random directions' mean; None when the study has no decision-point runs."""
    curves = findings["curves"].get("decisions")
    if not curves:
        return None
    plt = _pyplot()
    fig, (by_alpha, by_kl) = plt.subplots(1, 2, figsize=(12, 4.2))
    colours = {"base_dom": "C0", "reasoner_dom": "C1", "random": "0.55"}
    labels = {"base_dom": "base direction", "reasoner_dom": "reasoner direction",
              "random": "random (mean)"}  # fmt: skip
    alphas = curves["alphas"]
    for model, style in (("reasoner", "-"), ("base", "--")):
        for role, row in curves[model].items():
            kw = {"color": colours[role], "linestyle": style, "marker": "o", "ms": 3}
            by_alpha.plot(alphas, row["delta_log_odds"], label=f"{model}: {labels[role]}", **kw)
            positive = [i for i, a in enumerate(alphas) if a >= 0]
            by_kl.plot(
                [row["kl"][i] for i in positive],
                [row["delta_log_odds"][i] for i in positive],
                label=f"{model}: {labels[role]}",
                **kw,
            )
    for ax in (by_alpha, by_kl):
        ax.axhline(0, color="0.7", lw=0.8)
        ax.set_ylabel("Δ opener log-odds at decision points")
    by_alpha.set(xlabel="α (× mean residual norm)", title="dose-response (teacher-forced)")
    by_kl.set(xlabel="KL(steered ‖ unsteered), α ≥ 0", title="effect at matched KL")
    by_alpha.legend(fontsize=7)
    fig.tight_layout()
    paths = save(fig, stem)
    return next(p for p in paths if p.suffix == ".png")
