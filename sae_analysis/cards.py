"""HTML: one card per reported feature (top contexts, activating tokens highlighted) and a report
page that links them with the figures and the headline numbers. Static files, no scripts."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from sae_analysis.methods.contexts import Context
from sae_analysis.methods.data_view import FeatureStats
from sae_analysis.result import Decomposition, FeatureReport

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 72em; color: #222; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; border-bottom: 1px solid #ddd; }
th { text-align: left; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.ctx { font-family: ui-monospace, monospace; white-space: pre-wrap; line-height: 1.9;
       margin: 0.4em 0; padding: 0.3em; border-left: 3px solid #eee; }
.tok { border-radius: 2px; } .focus { outline: 1.5px solid #000; }
.event { border-left: 3px solid #06c; padding-left: 1px; }
.warn { color: #a40; } img { max-width: 100%; }
"""


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def _token(text: str, act: float, top: float, focus: bool, event: bool) -> str:
    alpha = max(0.0, act) / top if top > 0 else 0.0
    shown = html.escape(text.replace("\n", "⏎"), quote=True) or "∅"
    cls = "tok" + (" focus" if focus else "") + (" event" if event else "")
    return (
        f"<span class='{cls}' title='{act:.4g}' "
        f"style='background: rgba(255,120,0,{alpha:.3f})'>{shown}</span>"
    )


def context_html(context: Context, top: float) -> str:
    """One context, each token shaded by the feature's activation (hover shows the value)."""
    texts = context.tokens or tuple(f"⟨{i}⟩" for i in context.token_ids)
    events = set(context.events)
    spans = "".join(
        _token(t, a, top, k == context.focus, k in events)
        for k, (t, a) in enumerate(zip(texts, context.activations, strict=True))
    )
    where = f"{html.escape(context.trace_id)} @ {context.position}, act {context.activation:.4g}"
    return f"<div class='ctx' title='{where}'>{spans}</div>"


def _stats_rows(label: str, stats: FeatureStats | None) -> str:
    if stats is None:
        return ""
    auroc = "–" if stats.auroc is None else f"{stats.auroc:.3f}"
    return (
        f"<tr><td>{html.escape(label)}</td><td class='num'>{stats.mean_window:.4g}</td>"
        f"<td class='num'>{stats.mean_elsewhere:.4g}</td><td class='num'>{stats.frac_active_window:.3f}</td>"
        f"<td class='num'>{stats.frac_active_elsewhere:.3f}</td><td class='num'>{auroc}</td></tr>"
    )


def feature_card(result: Decomposition, feature: FeatureReport) -> str:
    """The HTML card of one feature."""
    data, compare = result.data, result.compare
    rank = (
        f"#{feature.omp_rank}, coefficient {feature.omp_coefficient:.4g}, contribution {feature.contribution:.3f}"
        if feature.omp_rank
        else "not chosen"
    )
    head = (
        f"<h1>feature {feature.index}</h1><p>SAE {html.escape(str(result.sae['sae_id']))} · direction "
        f"{html.escape(str(result.direction['name']))} · reported for {', '.join(feature.reasons)}</p>"
        f"<p>cosine with the direction {feature.cosine:.4f} · OMP {rank} · activation on the scaled "
        f"direction {feature.encoder_activation:.4g}</p>"
    )
    table = (
        f"<h2>Activation before backtracking (offsets {data.offsets[0]}…{data.offsets[-1]})</h2>"
        "<table><tr><th>model</th><th>mean in window</th><th>mean elsewhere</th>"
        "<th>active in window</th><th>active elsewhere</th><th>AUROC</th></tr>"
        + _stats_rows(data.model, feature.stats)
        + (_stats_rows(compare.model, feature.compare_stats) if compare is not None else "")
        + "</table>"
    )
    contexts = data.contexts.get(feature.index, ())
    top = max((c.activation for c in contexts), default=0.0)
    body = (
        "".join(context_html(c, top) for c in contexts)
        or "<p>never active on the reference tokens</p>"
    )
    back = (
        "<p><a href='../report.html'>← report</a> · shading: activation (hover for the value) · "
        "boxed: the max token · blue bar: an event (backtracking start)</p>"
    )
    return _page(
        f"feature {feature.index}",
        back + head + table + f"<h2>Top contexts ({data.model})</h2>" + body,
    )


def report_page(result: Decomposition, figures: Sequence[str]) -> str:
    """The report: headline numbers, figures, and the feature table linking every card."""
    pre, sparse = result.preflight, result.sparse
    ev = sparse.explained_variance[-1] if sparse.steps else 0.0
    head = (
        f"<h1>{html.escape(str(result.direction['name']))} in {html.escape(str(result.sae['sae_id']))}</h1>"
        f"<p>preflight on {html.escape(pre.model)}: reconstruction cosine {pre.cosine:.3f}, explained "
        f"variance {pre.explained_variance:.3f} ({pre.n_rows} tokens){' — FORCED' if pre.forced else ''}</p>"
        f"<p><b>{sparse.steps} features explain {ev:.1%} of the direction; {result.unexplained_share:.1%} "
        f"is left unexplained</b> (OMP, stop: {sparse.stop_reason}). Largest |cosine| "
        f"{result.cosine.max_abs:.3f} vs chance ≈ {max(result.cosine.null_max_abs, default=0.0):.3f}.</p>"
    )
    warns = "".join(f"<p class='warn'>⚠ {html.escape(w)}</p>" for w in result.warnings)
    imgs = "".join(f"<p><img src='{html.escape(f)}' alt='{html.escape(f)}'></p>" for f in figures)
    rows = "".join(_feature_row(f) for f in result.features)
    data, compare = result.data, result.compare
    auroc_heads = f"<th>AUROC {html.escape(data.model)}</th>" + (
        f"<th>AUROC {html.escape(compare.model)}</th>" if compare is not None else ""
    )
    table = (
        "<h2>Features</h2><table><tr><th>feature</th><th>why</th><th>OMP #</th><th>contribution</th>"
        f"<th>cosine</th>{auroc_heads}</tr>{rows}</table>"
        f"<p>AUROC: feature activation as a score for the tokens {data.offsets[0]}…{data.offsets[-1]} "
        f"before each {html.escape(data.event_label)} ({data.n_events} events, "
        f"{data.n_skipped_events} skipped) against the other reference tokens; 0.5 is chance.</p>"
    )
    return _page(f"decomposition of {result.direction['name']}", head + warns + imgs + table)


def _auroc_cell(stats: FeatureStats | None) -> str:
    value = "–" if stats is None or stats.auroc is None else f"{stats.auroc:.3f}"
    return f"<td class='num'>{value}</td>"


def _feature_row(f: FeatureReport) -> str:
    contribution = "" if f.contribution is None else f"{f.contribution:.3f}"
    compare = _auroc_cell(f.compare_stats) if f.compare_stats is not None else ""
    return (
        f"<tr><td><a href='cards/feature_{f.index}.html'>f{f.index}</a></td><td>{', '.join(f.reasons)}</td>"
        f"<td class='num'>{f.omp_rank or ''}</td><td class='num'>{contribution}</td>"
        f"<td class='num'>{f.cosine:.3f}</td>{_auroc_cell(f.stats)}{compare}</tr>"
    )


def write_html(result: Decomposition, out: Path, figures: Sequence[str]) -> list[Path]:
    """``out/report.html`` and ``out/cards/feature_<i>.html`` for every reported feature."""
    cards = out / "cards"
    cards.mkdir(parents=True, exist_ok=True)
    paths = []
    for feature in result.features:
        path = cards / f"feature_{feature.index}.html"
        path.write_text(feature_card(result, feature), encoding="utf-8")
        paths.append(path)
    report = out / "report.html"
    report.write_text(report_page(result, figures), encoding="utf-8")
    return [report, *paths]
