"""`experiments.report`: one self-contained HTML page from steering/ablation runs and their inputs.

>>> from experiments.report import build_report
>>> result = build_report(["runs/sweep", "runs/ablation"], "report/",
...                       probes="out/probes", sae="out/sae")
>>> result.html, result.numbers, result.figures   # index.html, report.json, figures/*.svg|png

The page shows: backtracking vs α per direction and model with CI bands, the baseline comparison
table, the joint-mediation dose-response, cosine / logit-lens tables and probe AUROC heatmaps
(from the probes step), SAE decomposition figures, example generations side by side (unsteered vs
steered, backtracking sentences highlighted), and each run's config and environment. Every number
on it is in ``report.json``; every figure is a PNG and an SVG beside the page. No external assets.
"""

from __future__ import annotations

from activation_store.core.lazy import lazy_exports

_EXPORTS = {
    "build_report": "experiments.report.assemble",
    "ReportResult": "experiments.report.assemble",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
