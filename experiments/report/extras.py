"""Sections from the earlier steps: the probes step (cosines, logit lens, AUROC) and SAE results.

Their output directories are read as they are: known JSON files become tables, and every PNG/SVG
figure in them is copied next to the page.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError
from experiments.report.figures import plot_auroc_heatmaps
from experiments.report.html import figure, fmt, table

MAX_ROWS = 40


def copy_figures(source: Path, out: Path, prefix: str, figures: list[Path]) -> str:
    """Copy every PNG (and its SVG twin) under ``source`` to ``out/figures``; HTML for the PNGs."""
    parts = []
    for png in sorted(source.rglob("*.png")):
        stem = f"{prefix}_{'_'.join(png.relative_to(source).with_suffix('').parts)}"
        for suffix in (".png", ".svg"):
            src = png.with_suffix(suffix)
            if src.is_file():
                target = out / "figures" / f"{stem}{suffix}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, target)
                figures.append(target)
        parts.append(figure(f"figures/{stem}.png", f"{prefix}: {png.relative_to(source)}"))
    return "".join(parts)


def probes_section(source: Path, out: Path, figures: list[Path]) -> tuple[str, dict[str, Any]]:
    """Cosine matrix, logit lens, token similarity and probe AUROCs; their JSON for report.json."""
    _need_dir(source, "--probes")
    numbers: dict[str, Any] = {}
    parts = []
    for path in sorted(source.rglob("comparison.json")):
        data = json.loads(path.read_text())
        numbers[str(path.relative_to(source))] = data
        parts.append(comparison_html(data))
    for path in sorted(source.rglob("results.json")):
        data = json.loads(path.read_text())
        rows = [
            r
            for r in data.get("results", [])
            if isinstance(r, dict) and {"model", "layer", "offset", "auroc"} <= set(r)
        ]
        if rows:
            numbers[str(path.relative_to(source))] = data
            stem = out / "figures" / f"probes_auroc_{len(numbers)}"
            paths = plot_auroc_heatmaps(rows, stem)
            figures.extend(paths)
            parts.append(
                figure(paths[0].relative_to(out).as_posix(), "probe AUROC by layer × offset")
            )
    parts.append(copy_figures(source, out, "probes", figures))
    return "".join(parts) or "<p>No probe outputs found.</p>", numbers


def comparison_html(data: dict[str, Any]) -> str:
    """Tables of a probes ``comparison.json``: cosines, logit lens, closest tokens."""
    parts = []
    cos = data.get("cosines", {})
    if cos.get("names"):
        parts.append("<h3>Cosine similarity between directions</h3>")
        rows = ([n, *row] for n, row in zip(cos["names"], cos["values"], strict=True))
        parts.append(table(["", *cos["names"]], rows, cls="numbers small"))
    if data.get("logit_lens"):
        parts.append("<h3>Logit lens: tokens each direction promotes</h3>")
        header = ["direction", "promoted", "suppressed", "rank percentile of backtracking words"]
        parts.append(table(header, (_lens_row(x) for x in data["logit_lens"]), cls="small"))
    if data.get("token_similarity"):
        parts.append("<h3>Closest single token (max cosine with embedding / unembedding rows)</h3>")
        parts.append(records_table(data["token_similarity"]))
    return "".join(parts)


def sae_section(source: Path, out: Path, figures: list[Path]) -> tuple[str, dict[str, Any]]:
    """SAE decomposition numbers (top-level scalars and feature tables) and figures."""
    _need_dir(source, "--sae")
    numbers: dict[str, Any] = {}
    parts = []
    for path in sorted(source.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        numbers[str(path.relative_to(source))] = data
        scalars = {
            k: v for k, v in data.items() if isinstance(v, (int, float, str, bool)) or v is None
        }
        parts.append(f"<h3>{path.relative_to(source)}</h3>")
        if scalars:
            parts.append(table(["field", "value"], scalars.items(), cls="kv"))
        for key, value in data.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                parts.append(f"<h4>{key}</h4>{records_table(value)}")
    parts.append(copy_figures(source, out, "sae", figures))
    return "".join(parts) or "<p>No SAE outputs found.</p>", numbers


def records_table(records: list[dict[str, Any]]) -> str:
    """A table of dicts: the scalar columns, first :data:`MAX_ROWS` rows."""
    columns = [k for k, v in records[0].items() if not isinstance(v, (dict, list))]
    more = (
        f"<p class='note'>first {MAX_ROWS} of {len(records)} rows (all in report.json)</p>"
        if len(records) > MAX_ROWS
        else ""
    )
    return (
        table(columns, ([r.get(c) for c in columns] for r in records[:MAX_ROWS]), cls="small")
        + more
    )


def _lens_row(lens: dict[str, Any]) -> list[str]:
    def tokens(scores: list[Any]) -> str:
        return ", ".join(
            repr(s.get("token")) if isinstance(s, dict) else fmt(s) for s in scores[:8]
        )

    ranks = lens.get("rank_percentiles", {})
    return [
        lens.get("direction", "?"),
        tokens(lens.get("promoted", [])),
        tokens(lens.get("suppressed", [])),
        ", ".join(f"{w}: {fmt(v)}" for w, v in ranks.items()),
    ]


def _need_dir(path: Path, flag: str) -> None:
    if not path.is_dir():
        raise InputError(f"{flag} {str(path)!r} is not a directory")
