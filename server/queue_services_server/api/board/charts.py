"""Charts as SVG drawn on the server: no JavaScript, nothing from a CDN."""

from __future__ import annotations

from dataclasses import dataclass

#: Colours of the three series (presentation attributes, allowed by the board's CSP).
COLOURS = {"sent": "#2f7d32", "failed": "#c62828", "rateLimited": "#ef6c00"}


@dataclass(frozen=True)
class Chart:
    """One chart: a title, points per series, and the SVG to draw it."""

    title: str
    svg: str


def line_chart(
    title: str, series: dict[str, list[int]], *, width: int = 560, height: int = 140
) -> Chart:
    """A line per series over the same x points (oldest first), scaled to the largest value."""
    peak = max((max(values, default=0) for values in series.values()), default=0) or 1
    pad = 24
    lines = []
    for name, values in series.items():
        if len(values) < 2:
            continue
        step = (width - 2 * pad) / (len(values) - 1)
        coords = " ".join(
            f"{pad + i * step:.1f},{height - pad - value / peak * (height - 2 * pad):.1f}"
            for i, value in enumerate(values)
        )
        colour = COLOURS.get(name, "#555")
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}">'
            f"<title>{name}</title></polyline>"
        )
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#999" stroke-width="1"/>'
        f'<text x="{pad}" y="{pad - 8}" font-size="11" fill="#555">max {peak}</text>'
        f'<text x="{width - pad}" y="{height - 6}" font-size="11" fill="#555" '
        'text-anchor="end">now</text>'
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{title}">'
        f"{axis}{''.join(lines)}</svg>"
    )
    return Chart(title, svg)


def bucketed(values: list[tuple[int, int, int, int]], per_point: int) -> dict[str, list[int]]:
    """Time-series buckets (start, sent, failed, rateLimited) summed `per_point` at a time."""
    sums: dict[str, list[int]] = {"sent": [], "failed": [], "rateLimited": []}
    for start in range(0, len(values), per_point):
        group = values[start : start + per_point]
        sums["sent"].append(sum(v[1] for v in group))
        sums["failed"].append(sum(v[2] for v in group))
        sums["rateLimited"].append(sum(v[3] for v in group))
    return sums
