"""A small line-chart writer for the benchmark report: SVG text, no dependency.

:func:`line_chart` draws series of ``(x, y)`` points with axes, ticks, a legend and optional
log scales and a dashed target line; enough for "latency against N" and "completions over
time", which a reader would rather look at than read. Pure function: returns the SVG text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

__all__ = ["Series", "line_chart"]

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 50
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False
    markers: bool = True


def _ticks(low: float, high: float, log: bool) -> list[float]:
    if log:
        first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
        return [10.0**e for e in range(first, last + 1)]
    span = high - low or 1.0
    step = 10 ** math.floor(math.log10(span / 5))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 6:
            step *= factor
            break
    start = math.floor(low / step) * step
    count = math.ceil((high - start) / step - 1e-9)
    return [start + i * step for i in range(count + 1)]


def _label(value: float) -> str:
    if value >= 1000 and value == int(value):
        return f"{int(value):,}"
    if value == int(value):
        return str(int(value))
    return f"{value:g}"


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    log_x: bool = False,
    log_y: bool = False,
    y_min: float | None = None,
    x_target: tuple[float, str] | None = None,
) -> str:
    """The SVG text of a line chart (points with a non-positive value are skipped on a log
    axis; an empty chart says so)."""
    points = [
        (x, y)
        for s in series
        for x, y in s.points
        if math.isfinite(x) and math.isfinite(y) and (x > 0 or not log_x) and (y > 0 or not log_y)
    ]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    if not points:
        out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text>')
        return "\n".join([*out, "</svg>"]) + "\n"
    xs = [x for x, _ in points] + ([x_target[0]] if x_target else [])
    ys = [y for _, y in points]
    x_lo, x_hi = min(xs), max(xs)
    y_lo = min(ys) if y_min is None else y_min
    y_hi = max(ys)
    if log_y:
        y_lo, y_hi = 10 ** math.floor(math.log10(y_lo)), 10 ** math.ceil(math.log10(y_hi))
    x_ticks = _ticks(x_lo, x_hi, log_x)
    y_ticks = _ticks(y_lo, y_hi if y_hi > y_lo else y_lo + 1, log_y)
    x_lo, x_hi = min(x_ticks[0], x_lo), max(x_ticks[-1], x_hi)
    y_lo, y_hi = min(y_ticks[0], y_lo), max(y_ticks[-1], y_hi)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def fx(x: float) -> float:
        if log_x:
            a, b, v = math.log10(x_lo), math.log10(x_hi), math.log10(x)
        else:
            a, b, v = x_lo, x_hi, x
        return LEFT + (v - a) / ((b - a) or 1) * plot_w

    def fy(y: float) -> float:
        if log_y:
            a, b, v = math.log10(y_lo), math.log10(y_hi), math.log10(y)
        else:
            a, b, v = y_lo, y_hi, y
        return TOP + plot_h - (v - a) / ((b - a) or 1) * plot_h

    bottom, right = TOP + plot_h, LEFT + plot_w
    for tick in x_ticks:
        if x_lo <= tick <= x_hi:
            x = fx(tick)
            out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}" stroke="#eee"/>')
            out.append(
                f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{_label(tick)}</text>'
            )
    for tick in y_ticks:
        if y_lo <= tick <= y_hi:
            y = fy(tick)
            out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
            out.append(
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(tick)}</text>'
            )
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>'
    )
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 10}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text x="16" y="{TOP + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {TOP + plot_h / 2})">{escape(y_label)}</text>'
    )
    if x_target is not None:
        x = fx(x_target[0])
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}" stroke="#888" '
            'stroke-dasharray="6 4"/>'
        )
        out.append(
            f'<text x="{x - 4:.1f}" y="{TOP + 14}" text-anchor="end">{escape(x_target[1])}</text>'
        )
    for index, s in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        kept = [
            (fx(x), fy(y))
            for x, y in s.points
            if math.isfinite(x)
            and math.isfinite(y)
            and (x > 0 or not log_x)
            and (y > 0 or not log_y)
        ]
        if kept:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in kept)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
            )
            if s.markers:
                out += [
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in kept
                ]
        legend_y = TOP + 16 + 18 * index
        out.append(
            f'<line x1="{LEFT + 12}" y1="{legend_y - 4}" x2="{LEFT + 36}" y2="{legend_y - 4}" '
            f'stroke="{colour}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{LEFT + 42}" y="{legend_y}">{escape(s.label)}</text>')
    return "\n".join([*out, "</svg>"]) + "\n"
