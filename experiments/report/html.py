"""Small HTML helpers: escaping, tables, number formatting (no templates, no external assets)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any


def fmt(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant figures; text as is; None as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v, digits) for v in value)
    return str(value)


def estimate_text(est: dict[str, Any] | None) -> str:
    """``mean [lo, hi]``."""
    if not est:
        return "—"
    return f"{fmt(est['mean'])} [{fmt(est['lo'])}, {fmt(est['hi'])}]"


def diff_text(cmp: dict[str, Any] | None) -> str:
    """``+Δ [lo, hi] p=…`` for a paired comparison."""
    if not cmp:
        return "—"
    return f"{cmp['diff']:+.3g} [{cmp['lo']:+.3g}, {cmp['hi']:+.3g}] p={cmp['p_value']:.2g}"


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    cls: str = "",
    raw: bool = False,
) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then they are trusted HTML)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(f"<td>{c if raw else escape(fmt(c))}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="{escape(cls)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def key_values(mapping: dict[str, Any]) -> str:
    """A two-column table of a flat mapping (nested values shown as compact text)."""
    return table(["field", "value"], ([k, _flat(v)] for k, v in mapping.items()), cls="kv")


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}={_flat(v)}" for k, v in value.items())
    return fmt(value)


def figure(src: str, caption: str) -> str:
    """An image with a caption; ``src`` is relative to the page."""
    return (
        f'<figure><img src="{escape(src)}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def section(anchor: str, title: str, body: str, intro: str = "") -> str:
    text = f"<p class='intro'>{escape(intro)}</p>" if intro else ""
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{text}{body}</section>'
