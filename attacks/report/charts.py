"""Inline SVG charts for the self-contained report: no scripts, no fetches, every label
escaped. Each function returns one ``<svg>`` element as text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

__all__ = ["PALETTE", "grouped_bars", "hbars", "stacked_hbars"]

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
_FONT = "font-family:system-ui,sans-serif;font-size:12px"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" style="{_FONT}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _legend(names: Sequence[str], x: float, y: float, colors: Sequence[str]) -> list[str]:
    out: list[str] = []
    cx = x
    for i, name in enumerate(names):
        color = colors[i % len(colors)]
        out.append(f'<rect x="{cx:.1f}" y="{y:.1f}" width="12" height="12" fill="{color}"/>')
        out.append(f'<text x="{cx + 16:.1f}" y="{y + 10:.1f}">{escape(name)}</text>')
        cx += _legend_width(name)
    return out


def _legend_width(name: str) -> float:
    return 7.0 * len(name) + 30


def grouped_bars(
    title: str,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    percent: bool = True,
    height: int = 300,
) -> str:
    """Vertical bars: one group per label in ``groups``, one bar per series (values 0..1
    when ``percent``). ``None`` draws no bar and an "n/a" tick."""
    names = list(series)
    n = max(len(names), 1)
    group_w = max(24 * n + 16, 70)
    left, top, bottom = 70, 34, 80
    width = left + group_w * max(len(groups), 1) + 20
    plot_h = height - top - bottom
    # the group labels are rotated -30 degrees: their drop (half their length) plus the
    # legend row decide the space under the plot, so long class names clear the legend
    longest = max((len(g) for g in groups), default=0)
    height = top + plot_h + max(bottom, int(14 + 0.5 * 7.0 * longest + 34))
    values = [v for vals in series.values() for v in vals if v is not None]
    vmax = 1.0 if percent else max(values or [1.0]) or 1.0
    body = [f'<text x="{left}" y="16" style="font-weight:600">{escape(title)}</text>']
    for i in range(5):
        frac = i / 4
        y = top + plot_h - frac * plot_h
        label = f"{frac * 100:.0f}%" if percent else f"{frac * vmax:.4g}"
        body.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        body.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    bar_w = (group_w - 16) / n
    for g, group in enumerate(groups):
        gx = left + g * group_w + 8
        for s, name in enumerate(names):
            vals = series[name]
            v = vals[g] if g < len(vals) else None
            x = gx + s * bar_w
            if v is None:
                body.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - 3}" text-anchor="middle" '
                    f'fill="#999" style="font-size:9px">n/a</text>'
                )
                continue
            h = max(0.0, min(1.0, v / vmax)) * plot_h
            shown = f"{v * 100:.1f}%" if percent else f"{v:.4g}"
            body.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)} / '
                f"{escape(group)}: {shown}</title></rect>"
            )
        cx = gx + (group_w - 16) / 2
        body.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 14}" text-anchor="end" '
            f'transform="rotate(-30 {cx:.1f} {top + plot_h + 14})">{escape(group)}</text>'
        )
    body.extend(_legend(names, left, height - 18, PALETTE))
    return _svg(int(max(width, left + sum(map(_legend_width, names)) + 20)), height, title, body)


def hbars(
    title: str, rows: Sequence[tuple[str, float | None]], *, percent: bool = True, unit: str = ""
) -> str:
    """Horizontal bars, one per (label, value)."""
    left, top, row_h, bar_area = 130, 30, 26, 420
    width = left + bar_area + 90
    height = top + row_h * max(len(rows), 1) + 10
    values = [v for _, v in rows if v is not None]
    vmax = 1.0 if percent else (max(values or [1.0]) or 1.0)
    body = [f'<text x="8" y="16" style="font-weight:600">{escape(title)}</text>']
    for i, (label, v) in enumerate(rows):
        y = top + i * row_h
        body.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        if v is None:
            body.append(f'<text x="{left + 4}" y="{y + 15}" fill="#999">n/a</text>')
            continue
        w = max(0.0, min(1.0, v / vmax)) * bar_area
        shown = f"{v * 100:.1f}%" if percent else f"{v:,.4g}{unit}"
        body.append(
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(label)}: {shown}</title></rect>'
        )
        body.append(f'<text x="{left + w + 6:.1f}" y="{y + 15}">{shown}</text>')
    return _svg(width, height, title, body)


def stacked_hbars(
    title: str, parts: Sequence[str], rows: Sequence[tuple[str, Sequence[int]]], *, colors: Sequence[str]
) -> str:
    """One horizontal bar per row, split into ``parts`` (counts), scaled to 100%."""
    left, top, row_h, bar_area = 130, 30, 30, 480
    width = left + bar_area + 30
    height = top + row_h * max(len(rows), 1) + 40
    body = [f'<text x="8" y="16" style="font-weight:600">{escape(title)}</text>']
    for i, (label, counts) in enumerate(rows):
        y = top + i * row_h
        total = sum(counts) or 1
        body.append(f'<text x="{left - 6}" y="{y + 17}" text-anchor="end">{escape(label)}</text>')
        x = float(left)
        for j, count in enumerate(counts):
            w = count / total * bar_area
            if w <= 0:
                continue
            body.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 10}" fill="{colors[j]}">'
                f"<title>{escape(label)} / {escape(parts[j])}: {count} ({count / total:.1%})</title></rect>"
            )
            if w > 28:
                body.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 18}" text-anchor="middle" fill="#fff">{count}</text>'
                )
            x += w
    body.extend(_legend(parts, left, height - 22, colors))
    return _svg(int(max(width, left + sum(map(_legend_width, parts)) + 10)), height, title, body)
