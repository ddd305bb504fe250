"""Example generations side by side: unsteered vs steered, backtracking sentences highlighted."""

from __future__ import annotations

from html import escape
from typing import Any

from experiments.report.runs import RunData

MAIN_METRIC = "coherent_backtracking_sentences"


def strongest_cell(run: RunData) -> dict[str, Any] | None:
    """The intervened cell with the largest effect on backtracking.

    Directions under test are preferred (largest gain over random for steering, largest drop for
    ablation); without any, the largest change against the unintervened run of any cell.
    """
    from probes.baselines import BASELINE_KINDS

    cells = {c["cell"]: c for c in run.summary["cells"] if c["operation"] != "none"}
    scored: list[tuple[bool, float, str]] = []
    for cmp in run.summary["comparisons"]:
        cell = cells.get(cmp["cell"])
        if cell is None or cmp["metric"] != MAIN_METRIC:
            continue
        sign = 1.0 if cell["operation"] == "add" else -1.0
        candidate = not set(cell["kinds"]) & BASELINE_KINDS and cmp["against"] in (
            "random",
            "unablated",
        )
        scored.append((candidate, sign * cmp["diff"], cell["cell"]))
    if not scored:
        return next(iter(cells.values()), None)
    return cells[max(scored)[2]]


def highlighted(text: str) -> str:
    """``text`` as HTML with each backtracking sentence in ``<mark>``."""
    from experiments.steering.runs.metrics import backtracking_sentences

    out, last = [], 0
    for s in backtracking_sentences(text):
        out += [escape(text[last : s.start]), f"<mark>{escape(text[s.start : s.end])}</mark>"]
        last = s.end
    out.append(escape(text[last:]))
    return "".join(out)


def examples(run: RunData, n: int) -> tuple[str, list[dict[str, Any]]]:
    """HTML of up to ``n`` prompts per model, and the same as JSON-ready records."""
    cell = strongest_cell(run)
    if cell is None or n <= 0:
        return "<p>No steered or ablated cell to show.</p>", []
    reference = next(
        c for c in run.summary["cells"] if c["operation"] == "none" and c["model"] == cell["model"]
    )
    by_cell: dict[str, dict[str, dict[str, Any]]] = {reference["cell"]: {}, cell["cell"]: {}}
    for g in run.generations():
        key = g["condition"].rsplit("|seed=", 1)[0]
        if key in by_cell and g["seed"] == min(cell["seeds"]):
            by_cell[key].setdefault(g["prompt_id"], g)
    shared = [p for p in by_cell[reference["cell"]] if p in by_cell[cell["cell"]]][:n]
    blocks, records = [], []
    for prompt_id in shared:
        plain, steered = by_cell[reference["cell"]][prompt_id], by_cell[cell["cell"]][prompt_id]
        records.append(
            {
                "prompt_id": prompt_id,
                "unsteered": plain["text"],
                "steered": steered["text"],
                "cell": cell["cell"],
            }
        )
        blocks.append(
            f"<div class='pair'><h4>prompt {escape(prompt_id)}</h4>"
            f"<div class='side'><h5>{escape(reference['group'])} · {_counts(plain)}</h5>"
            f"<pre>{highlighted(plain['text'])}</pre></div>"
            f"<div class='side'><h5>{escape(_title(cell))} · {_counts(steered)}</h5>"
            f"<pre>{highlighted(steered['text'])}</pre></div></div>"
        )
    return "".join(blocks), records


def _title(cell: dict[str, Any]) -> str:
    if cell["operation"] == "add":
        return f"{cell['group']} at α={cell['alpha']:g}"
    return f"{cell['group']} ablated"


def _counts(g: dict[str, Any]) -> str:
    m = g["metrics"]
    flag = " · degenerate" if m["degenerate"] else ""
    return f"{m['backtracking_sentences']} backtracking sentence(s){flag}"
