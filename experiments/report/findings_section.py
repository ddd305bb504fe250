"""The report's opening section: the study's four answers and its headline figure.

Reads ``findings.json`` and ``headline.png``/``.svg`` from a findings directory (what
``backtrack study findings`` writes), so a committed findings directory alone rebuilds it.
"""

from __future__ import annotations

import json
import shutil
from html import escape
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError
from experiments.report.html import table

VERDICT_COLOURS = {"yes": "#1a7f37", "no": "#b42318", "inconclusive": "#9a6700"}


def _effect(e: dict[str, Any]) -> str:
    """``+Δ [lo, hi] p=…`` (— where the study had no data for it)."""
    if any(e.get(k) is None for k in ("diff", "lo", "hi")):
        return "—"
    p = f" p={e['p_value']:.2g}" if e.get("p_value") is not None else ""
    rank = (
        f", {100 * e['percentile']:.0f}th percentile of {e.get('n_baselines')} baselines"
        if e.get("percentile") is not None
        else ""
    )
    mde = f", detectable ≥ {e['mde']:.3f}" if e.get("mde") is not None else ""
    return f"{e['diff']:+.3f} [{e['lo']:+.3f}, {e['hi']:+.3f}]{p}{rank}{mde}"


def findings_section(directory: Path, out: Path, figures: list[Path]) -> tuple[str, dict[str, Any]]:
    """HTML of the four answers (with per-seed effects) and the headline figure, and the numbers."""
    path = directory / "findings.json"
    if not path.is_file():
        raise InputError(
            f"no findings.json in {str(directory)!r}; run `backtrack study findings` first"
        )
    findings = json.loads(path.read_text())
    parts = [
        f"<p>Study <b>{escape(str(findings['study']))}</b> over seeds {findings['seeds']}; metric "
        f"<b>{escape(findings['metric'])}</b>, headline α = {findings['headline_alpha']:g} × mean "
        "residual norm. 95 % CIs: steering and ablation bootstrap over held-out prompts (per-prompt "
        "values averaged over seeds; against random baselines also over the baselines); probes "
        "pooled from each seed's bootstrap. A verdict is yes only when the CIs, the permutation "
        "tests and the baselines' 95th percentile all agree; 'detectable' is the smallest effect "
        "the study could detect at 80 % power.</p>"
    ]
    for name in ("headline", "decisions"):
        for suffix in (".png", ".svg"):
            src = directory / f"{name}{suffix}"
            if src.is_file():
                dst = out / "figures" / f"{name}{suffix}"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                figures.append(dst)
        if (out / "figures" / f"{name}.png").is_file():
            parts.append(
                f'<p><img style="width:100%" src="figures/{name}.png" alt="{name} figure"></p>'
            )
    rows = []
    for a in findings["answers"]:
        colour = VERDICT_COLOURS.get(a["verdict"], "#444")
        verdict = f'<b style="color:{colour}">{escape(a["verdict"].upper())}</b>'
        effects = "<br>".join(
            f"{escape(e['label'])}: {_effect(e)}"
            + "".join(
                f"<br>&nbsp;&nbsp;seed {s['seed']}: {_effect(s)}" for s in e.get("per_seed", [])
            )
            for e in a["effects"]
        )
        rows.append(
            [
                escape(a["key"].upper()),
                escape(a["question"]),
                verdict,
                escape(a["summary"]),
                effects,
            ]
        )
    parts.append(
        table(["", "question", "verdict", "answer", "effects (pooled; per seed)"], rows, raw=True)
    )
    checks = findings.get("capability") or []
    if checks:
        parts.append(
            "<p><b>Capability check</b>: the reasoner's answer accuracy (states the right final "
            "answer) under each direction at the headline α and under the joint ablation, against "
            "unsteered on the same prompts; LOST means the direction destroys capability.</p>"
        )
        parts.append(
            table(
                ["intervention", "verdict", "numbers"],
                [
                    [
                        escape(c["label"]),
                        f'<b style="color:{VERDICT_COLOURS.get(_CAPABILITY[c["verdict"]], "#444")}">'
                        f"{escape(c['verdict'].upper())}</b>",
                        escape(c["summary"]),
                    ]
                    for c in checks
                ],
                raw=True,
            )
        )
    return "".join(parts), findings


_CAPABILITY = {"kept": "yes", "lost": "no", "inconclusive": "inconclusive"}
"""Capability verdicts coloured as the answers' (kept green, lost red)."""
