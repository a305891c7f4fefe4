"""Charts as server-side SVG: no script, no CDN, readable by screen readers, every element a link.

Each chart is a ``<figure>`` whose ``<svg>`` carries a ``<title>`` and ``<desc>``; every bar or point is an
``<a href>`` with an ``aria-label`` and its own ``<title>`` (the tooltip). Pages put the same numbers in a table
beside the chart. Text is escaped with `esc`; colours come from presentation attributes and `admin.css` classes
(the console's CSP forbids inline styles).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.web.admin.pages import esc

WIDTH = 720
LABEL_WIDTH = 190  # left column of horizontal bar charts
ROW_HEIGHT = 28
VALUE_WIDTH = 90
COLUMNS_HEIGHT = 260
MARGIN = {"top": 16, "right": 16, "bottom": 34, "left": 48}
SERIES_FILL = {"primary": "#1f4e79", "secondary": "#f0a500", "line": "#c0392b"}
MAX_LABEL_CHARS = 12


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str  # the value as people read it ("12", "8.3%", "420 毫秒")
    href: str = ""
    series: str = "primary"


@dataclass(frozen=True)
class Column:
    """One day of a column chart: a bar and, optionally, a point of the line series."""

    label: str  # the full label (a date)
    tick: str  # the short label under the axis
    value: float
    line_value: float | None
    href: str = ""


def _short(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _linked(href: str, label: str, inner: str) -> str:
    if not href:
        return f'<g aria-label="{esc(label)}">{inner}</g>'
    return f'<a href="{esc(href)}" aria-label="{esc(label)}">{inner}</a>'


def _frame(chart_id: str, title: str, description: str, height: float, body: str, width: int = WIDTH) -> str:
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" viewBox="0 0 {width} {_number(height)}" '
        f'width="100%" role="group" aria-labelledby="{esc(chart_id)}-title {esc(chart_id)}-desc" '
        f'id="{esc(chart_id)}"><title id="{esc(chart_id)}-title">{esc(title)}</title>'
        f'<desc id="{esc(chart_id)}-desc">{esc(description)}</desc>{body}</svg>'
    )
    return f'<figure class="chart"><figcaption>{esc(title)}</figcaption>{svg}</figure>'


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    bars: list[Bar],
    max_value: float | None = None,
    width: int = WIDTH,
    label_width: int = LABEL_WIDTH,
) -> str:
    """Horizontal bars, one row each: label on the left, the bar, the value at its end.

    A chart shown half-width gets a smaller `width` (its viewBox), so its text stays readable when scaled.
    """
    if not bars:
        empty = '<text x="8" y="24" class="chart-empty">暂无数据</text>'
        return _frame(chart_id, title, description, 40, empty, width)
    top = max_value if max_value is not None else max(bar.value for bar in bars)
    span = width - label_width - VALUE_WIDTH
    rows = []
    for number, bar in enumerate(bars):
        y = 8 + number * ROW_HEIGHT
        length = 0.0 if top <= 0 else max(0.0, min(1.0, bar.value / top)) * span
        tip = f"{bar.label}：{bar.shown}"
        inner = (
            f'<text x="{label_width - 8}" y="{y + 17}" text-anchor="end" class="chart-label">{esc(_short(bar.label))}'
            f"</text>"
            f'<rect class="chart-hit" x="0" y="{y}" width="{width}" height="{ROW_HEIGHT - 4}" fill="transparent"/>'
            f'<rect class="chart-bar chart-{esc(bar.series)}" x="{label_width}" y="{y}" width="{_number(length)}" '
            f'height="{ROW_HEIGHT - 6}" fill="{SERIES_FILL.get(bar.series, SERIES_FILL["primary"])}">'
            f"<title>{esc(tip)}</title></rect>"
            f'<text x="{_number(label_width + length + 6)}" y="{y + 17}" class="chart-value">{esc(bar.shown)}</text>'
        )
        rows.append(_linked(bar.href, tip, inner))
    body = "".join(rows)
    return _frame(chart_id, title, description, 16 + len(bars) * ROW_HEIGHT, body, width)


def _ticks(top: float) -> list[float]:
    return [0.0, top / 2, top] if top > 0 else [0.0]


def column_chart(
    chart_id: str, title: str, description: str, columns: list[Column], names: tuple[str, str], unit: str = ""
) -> str:
    """Vertical bars (series `names[0]`) with a line of points (series `names[1]`) on the same scale."""
    left, right, top_margin, bottom = MARGIN["left"], MARGIN["right"], MARGIN["top"], MARGIN["bottom"]
    plot_width, plot_height = WIDTH - left - right, COLUMNS_HEIGHT - top_margin - bottom
    top = max([c.value for c in columns] + [c.line_value or 0 for c in columns] + [0]) or 1.0
    slot = plot_width / max(1, len(columns))
    every = max(1, -(-len(columns) // 10))  # at most ~10 labels under the axis

    def y_of(value: float) -> float:
        return top_margin + plot_height * (1 - value / top)

    grid = "".join(
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{_number(y_of(t))}" y2="{_number(y_of(t))}" class="chart-grid" '
        f'stroke="#d5dce4"/><text x="{left - 6}" y="{_number(y_of(t) + 4)}" text-anchor="end" '
        f'class="chart-axis">{esc(_number(t))}</text>'
        for t in _ticks(top)
    )
    items, points = [], []
    for number, column in enumerate(columns):
        x = left + number * slot
        height = plot_height * column.value / top
        tip = f"{column.label}：{names[0]} {_number(column.value)}{unit}"
        if column.line_value is not None:
            tip += f"，{names[1]} {_number(column.line_value)}{unit}"
            points.append((x + slot / 2, y_of(column.line_value)))
        inner = (
            f'<rect class="chart-hit" x="{_number(x)}" y="{top_margin}" width="{_number(slot)}" '
            f'height="{plot_height}" fill="transparent"/>'
            f'<rect class="chart-bar chart-primary" x="{_number(x + slot * 0.15)}" y="{_number(y_of(column.value))}" '
            f'width="{_number(slot * 0.7)}" height="{_number(height)}" fill="{SERIES_FILL["primary"]}">'
            f"<title>{esc(tip)}</title></rect>"
        )
        if column.line_value is not None:
            inner += (
                f'<circle class="chart-point" cx="{_number(x + slot / 2)}" cy="{_number(y_of(column.line_value))}" '
                f'r="3.5" fill="{SERIES_FILL["line"]}"><title>{esc(tip)}</title></circle>'
            )
        if number % every == 0:
            inner += (
                f'<text x="{_number(x + slot / 2)}" y="{COLUMNS_HEIGHT - bottom + 16}" text-anchor="middle" '
                f'class="chart-axis">{esc(column.tick)}</text>'
            )
        items.append(_linked(column.href, tip, inner))
    line = ""
    if len(points) > 1:
        path = " ".join(f"{_number(x)},{_number(y)}" for x, y in points)
        line = (
            f'<polyline points="{path}" class="chart-line" fill="none" stroke="{SERIES_FILL["line"]}" stroke-width="2" '
            'pointer-events="none"/>'
        )
    legend = (
        f'<g class="chart-legend" aria-hidden="true"><rect x="{left}" y="{COLUMNS_HEIGHT + 2}" width="10" height="10" '
        f'fill="{SERIES_FILL["primary"]}"/><text x="{left + 14}" y="{COLUMNS_HEIGHT + 11}">{esc(names[0])}</text>'
        f'<circle cx="{left + 105}" cy="{COLUMNS_HEIGHT + 7}" r="4" fill="{SERIES_FILL["line"]}"/>'
        f'<text x="{left + 114}" y="{COLUMNS_HEIGHT + 11}">{esc(names[1])}</text></g>'
    )
    body = f"{grid}{''.join(items)}{line}{legend}"
    return _frame(chart_id, title, description, COLUMNS_HEIGHT + 18, body)
