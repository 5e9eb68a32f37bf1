"""Bar charts as inline SVG, drawn on the server (no JavaScript, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

COLOURS = ("#2f6fb3", "#3a9d5d", "#e0a020", "#c0392b")


def bar_chart(rows: Sequence[tuple[str, Sequence[float]]], series: Sequence[str], *, percent: bool,
              title: str) -> Markup:
    """Grouped horizontal bars: one group per row name, one bar per series."""
    label_w, bar_h, gap, width = 130, 12, 10, 560
    plot_w = width - label_w - 60
    top = 44
    group_h = bar_h * len(series) + gap
    height = top + max(1, len(rows)) * group_h + 10
    peak = 1.0 if percent else max([v for _, values in rows for v in values] + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'class="chart" aria-label="{escape(title)}">',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for index, name in enumerate(series):
        x = label_w + index * 110
        parts.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{COLOURS[index % len(COLOURS)]}"/>'
                     f'<text x="{x + 14}" y="33" font-size="11">{escape(name)}</text>')
    for row_index, (name, values) in enumerate(rows):
        y0 = top + row_index * group_h
        short = name if len(name) <= 10 else name[:9] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y0 + bar_h * len(series) / 2 + 4}" font-size="11" '
                     f'text-anchor="end"><title>{escape(name)}</title>{escape(short)}</text>')
        for index, value in enumerate(values):
            w = max(0.0, plot_w * value / peak)
            y = y0 + index * bar_h
            shown = f"{value * 100:.0f}%" if percent else f"{value:g}"
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                         f'fill="{COLOURS[index % len(COLOURS)]}"/>'
                         f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 3}" font-size="10">{shown}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
