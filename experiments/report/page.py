"""The page skeleton: inline CSS, a table of contents, and an image self-check."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}h3{margin-top:1.4em}
nav ul{columns:2;font-size:.95em}figure{margin:1em 0;display:inline-block;vertical-align:top;width:49%}
figure img{width:100%}
figcaption{font-size:.85em;color:#555}table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}table.numbers td{font-variant-numeric:tabular-nums;white-space:nowrap}
table.small{font-size:.78em}details{margin:.5em 0}summary{cursor:pointer;color:#246}
.pair{display:flex;gap:1em;flex-wrap:wrap;border-top:1px solid #eee;padding-top:.5em}
.pair h4{flex-basis:100%;margin:.2em 0}.side{flex:1 1 45%;min-width:300px}
.side h5{margin:.2em 0;color:#444}pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;
padding:.5em;max-height:22em;overflow:auto;font-size:.85em}mark{background:#ffe08a}
.intro,.note{color:#555}
"""
IMAGE_CHECK = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', ok + '/' + imgs.length);
});
"""
"""Records how many images the browser actually decoded (checked by the headless-browser test)."""


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole HTML document; ``sections`` are (anchor, title, html) in order."""
    toc = "".join(f'<li><a href="#{escape(a)}">{escape(t)}</a></li>' for a, t, _ in sections)
    body = "".join(html for _, _, html in sections)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1><p class='intro'>{escape(subtitle)}</p>"
        f"<nav><ul>{toc}</ul></nav>{body}<script>{IMAGE_CHECK}</script></body></html>\n"
    )
