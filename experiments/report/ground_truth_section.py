"""The report's first section for a planted-mechanism study: each ground-truth criterion.

Reads ``findings.json``'s ``"ground_truth"`` (see :mod:`experiments.study.ground_truth`); absent
for ordinary studies, when the section is not shown.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from experiments.report.html import table

MARKS = {True: ("PASS", "#1a7f37"), False: ("FAIL", "#b42318"), None: ("reported", "#444")}


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_figure(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "<br>".join(_figure(v) for v in value)
    return escape(str(value))


def ground_truth_section(findings: dict[str, Any]) -> str | None:
    """HTML of the ground-truth table, or None when the findings carry none."""
    truth = findings.get("ground_truth")
    if not truth:
        return None
    planted = truth.get("planted", {})
    intro = (
        f"<p>The reasoner <b>{escape(str(truth['model']))}</b> carries a planted "
        f"<b>{escape(str(truth['variant']))}</b> mechanism (block {planted.get('layer')} → "
        f"{escape(str(planted.get('opener')))}), recorded with the model: "
        f"<b>{truth['passed']} of {truth['graded']}</b> graded criteria passed. Planted "
        f"directions: <code>{escape(json.dumps(planted.get('directions')))}</code></p>"
    )
    rows = []
    for c in truth["criteria"]:
        mark, colour = MARKS[c["passed"]]
        rows.append(
            [
                escape(c["key"]),
                escape(c["criterion"]),
                _figure(c["figure"]) + (f"<br><i>{escape(c['note'])}</i>" if c.get("note") else ""),
                escape(c["threshold"]),
                f'<b style="color:{colour}">{mark}</b>',
            ]
        )
    return intro + table(["", "criterion", "measured", "threshold", ""], rows, raw=True)
