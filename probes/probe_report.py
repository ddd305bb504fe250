"""Writing a probe run: ``results.csv``, ``results.json`` (config, counts, rows) and the plots."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from probes.probe_eval import ProbeResult
from probes.probe_run import ProbeReport


def write_report(report: ProbeReport, out: str | Path, *, plots: bool = True) -> list[Path]:
    """Write the results table as CSV and JSON (with the config beside it) and the figures."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in fields(ProbeResult)]
    csv_path = out / "results.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        for r in report.results:
            writer.writerow(asdict(r))
    json_path = out / "results.json"
    json_path.write_text(json.dumps(_payload(report), indent=2, default=str) + "\n")
    written = [csv_path, json_path]
    if plots and report.results:
        from probes.plots import plot_auroc_heatmaps, plot_model_curves

        written += plot_auroc_heatmaps(report.results, out / "auroc_heatmap")
        written += plot_model_curves(report.results, out / "auroc_curves")
    return written


def _payload(report: ProbeReport) -> dict[str, Any]:
    return {
        "store": report.store,
        "config": asdict(report.config),
        "reference": report.reference,
        "counts": report.counts,
        "passes": report.passes,
        "seconds": round(report.seconds, 3),
        "method": {
            "task": f"positive: offset from a backtracking start in [d-{report.config.k - 1}, d]",
            "split": "by trace group (never by token); C chosen on validation AUROC",
            "imbalance": "class-balanced training; sampled negatives weighted to the population "
            "prevalence in evaluation",
            "ci": f"95 % percentile bootstrap over test traces ({report.config.n_bootstrap} resamples)",
        },
        "results": [_clean(asdict(r)) for r in report.results],
    }


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """NaN → None, so the JSON is standard."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
