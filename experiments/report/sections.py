"""The sections of the report for one run: curves, baseline table, dose-response, config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.report.figures import plot_alpha_curves, plot_dose_response
from experiments.report.html import diff_text, estimate_text, figure, key_values, table
from experiments.report.runs import RunData

SWEEP_METRICS = (
    "coherent_backtracking_sentences",
    "backtracking_sentences",
    "wait_hmm_fraction",
    "perplexity",
    "degenerate",
)
TABLE_METRICS = ("coherent_backtracking_sentences", "wait_hmm_fraction")


def sweep_section(run: RunData, out: Path, figures: list[Path]) -> str:
    """α curves per metric and the baseline comparison table."""
    kinds = {name: d["kind"] for name, d in run.summary["directions"].items()}
    parts = [
        f"<p>α in units of <b>{run.summary.get('alpha_unit')}</b>; positions changed: "
        f"{run.summary['positions_meaning']}. Backtracking counted by the "
        f"{(run.summary.get('labeller') or {}).get('name', 'keyword')} labeller.</p>"
    ]
    for metric in SWEEP_METRICS:
        stem = out / "figures" / f"{run.name}_alpha_{metric}"
        paths = plot_alpha_curves(run.summary, metric, stem, kinds)
        figures.extend(paths)
        if paths:
            parts.append(figure(paths[0].relative_to(out).as_posix(), f"{run.name}: {metric} vs α"))
    parts.append("<h3>Baselines: each direction against norm-matched controls</h3>")
    parts.append(comparison_table(run))
    return "".join(parts)


def comparison_table(run: RunData) -> str:
    """One row per steered cell: its mean, Δ vs unsteered, Δ vs the random directions."""
    cmps: dict[tuple[str, str, str], dict[str, Any]] = {
        (c["cell"], c["against"], c["metric"]): c for c in run.summary["comparisons"]
    }
    rows = []
    for c in run.summary["cells"]:
        if c["operation"] != "add":
            continue
        row = [c["model"], c["group"], ", ".join(c["kinds"]), f"{c['alpha']:g}"]
        for metric in TABLE_METRICS:
            row.append(estimate_text(c["metrics"].get(metric)))
            row.append(diff_text(cmps.get((c["cell"], "unsteered", metric))))
            row.append(diff_text(cmps.get((c["cell"], "random", metric))))
        row.append(estimate_text(c["metrics"].get("degenerate")))
        rows.append(row)
    header = ["model", "direction", "kind", "α"]
    for metric in TABLE_METRICS:
        header += [f"{metric}", "Δ vs unsteered", "Δ vs random"]
    header.append("degenerate share")
    return table(header, rows, cls="numbers")


def ablation_section(run: RunData, out: Path, figures: list[Path]) -> str:
    """Dose-response figure and table."""
    rows = run.summary.get("dose_response", [])
    parts = [
        f"<p>Projected out at: {', '.join(run.config.get('hooks') or []) or 'the directions’ own hook'}; positions: {run.summary['positions_meaning']}.</p>"
    ]
    for metric in ("coherent_backtracking_sentences", "backtracking_sentences"):
        stem = out / "figures" / f"{run.name}_dose_{metric}"
        paths = plot_dose_response(rows, metric, stem)
        figures.extend(paths)
        if paths:
            parts.append(
                figure(paths[0].relative_to(out).as_posix(), f"{run.name}: dose-response, {metric}")
            )
    body = []
    for r in rows:
        rnd = r["random"]
        for d in r["directions"]:
            vs = next((v["effect"] for v in r["vs_random"] if v["cell"] == d["cell"]), None)
            body.append(
                [
                    r["model"],
                    r.get("mode", "zero"),
                    r["metric"],
                    r["k"],
                    d["group"],
                    diff_text(d["effect"]),
                    f"{_num(rnd['mean_effect'])} ({_num(rnd['min_effect'])} … {_num(rnd['max_effect'])}, n={rnd['n_subspaces']})",
                    diff_text(vs),
                ]
            )
    header = [
        "model",
        "ablation",
        "metric",
        "k",
        "ablated",
        "Δ vs unablated",
        "random k-subspaces: mean (range)",
        "Δ vs random",
    ]
    parts.append(table(header, body, cls="numbers"))
    return "".join(parts)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3g}"


def cells_table(run: RunData) -> str:
    """Every cell with every metric (collapsed by default)."""
    metrics = list(run.summary["metric_meanings"])
    rows = [
        [c["cell"], c["n_prompts"], *(estimate_text(c["metrics"].get(m)) for m in metrics)]
        for c in run.summary["cells"]
    ]
    return f"<details><summary>all cells, all metrics</summary>{table(['cell', 'prompts', *metrics], rows, cls='numbers small')}</details>"


def config_section(run: RunData) -> str:
    """The run's full config and environment."""
    meanings = table(["metric", "meaning"], run.summary["metric_meanings"].items())
    return (
        f"<details><summary>config of {run.name}</summary>{key_values(run.config)}</details>"
        f"<details><summary>environment of {run.name}</summary>{key_values(run.environment)}</details>"
        f"<details><summary>metric definitions</summary>{meanings}</details>"
    )
