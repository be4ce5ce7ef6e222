"""One self-contained HTML page: inline style, pictures embedded as base64 PNG, nothing fetched.

The page opens offline in any browser. Figures are rendered by matplotlib's Agg canvas and written with
no metadata (no software URL in the PNG either).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Section", "figure_png", "img", "page", "table", "text"]

_STYLE = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px 0;font-size:22px}
header p{margin:0;color:#c8ccd6;font-size:13px}
nav{padding:8px 28px;background:#e6e8ee;font-size:13px}
nav a{margin-right:14px;color:#1d4f91;text-decoration:none}
section{background:#fff;margin:16px 28px;padding:12px 20px 18px 20px;border-radius:6px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h2{font-size:17px;margin:6px 0 10px 0;color:#1d2330}
h3{font-size:14px;margin:12px 0 6px 0}
p.note{color:#5a6272;font-size:13px;margin:4px 0}
figure{margin:8px 0 14px 0}
figure img{max-width:100%;height:auto;border:1px solid #e1e4ea}
figcaption{font-size:12px;color:#5a6272}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0 10px 0}
th,td{border:1px solid #d9dce3;padding:3px 8px;text-align:right}
th{background:#eef0f4}
td.l,th.l{text-align:left}
table.facts td,table.facts th{text-align:left}
div.cols{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
details{margin:8px 0}summary{cursor:pointer;font-size:13px;font-weight:bold}
pre{font-size:12px;background:#f7f8fa;padding:8px;border:1px solid #e1e4ea}
td.best{font-weight:bold;background:#e3f4ea}
td.diff{background:#fff4d6}
"""


@dataclass
class Section:
    """One titled part of the page; ``anchor`` is its id (tests and the navigation use it)."""

    anchor: str
    title: str
    parts: list[str] = field(default_factory=list)

    def add(self, *parts: str) -> Section:
        self.parts.extend(p for p in parts if p)
        return self


def text(message: str, note: bool = True) -> str:
    return f'<p class="note">{html.escape(message)}</p>' if note else f"<p>{html.escape(message)}</p>"


def figure_png(fig: Any, dpi: int = 96) -> bytes:
    """The figure as PNG bytes (Agg canvas, no metadata)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def img(png: bytes, title: str, caption: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">{cap}</figure>'


def cell(value: Any) -> str:
    """A number with 4 significant digits, text escaped, missing as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "—" if math.isnan(value) else str(value)
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    return html.escape(str(value))


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    marks: dict[tuple[int, int], str] | None = None,
    css: str = "",
) -> str:
    """An HTML table; ``marks`` gives a CSS class to cells ``(row, column)`` (``best``, ``diff``)."""
    marks = marks or {}
    head = "".join(f'<th class="{"l" if i == 0 else ""}">{html.escape(h)}</th>' for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, value in enumerate(row):
            cls = " ".join(x for x in ("l" if c == 0 else "", marks.get((r, c), "")) if x)
            cells.append(f'<td class="{cls}">{cell(value)}</td>' if cls else f"<td>{cell(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{"".join(s.parts)}</section>'
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )
