"""The dashboard's usage chart as plain geometry, drawn by a template as SVG."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

WIDTH = 960
HEIGHT = 240
LEFT = 44  # room for the axis labels
BOTTOM = 24
TOP = 10
GRIDLINES = 4


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str  # "remember" or "recall"
    title: str


@dataclass(frozen=True)
class Gridline:
    y: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    gridlines: list[Gridline]
    days: list[DayLabel]
    total: int


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^n at or above value (4 at least, so gridlines stay whole)."""
    if value <= GRIDLINES:
        return GRIDLINES
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude * GRIDLINES >= value:
                return step * magnitude * GRIDLINES
        magnitude *= 10


def usage_chart(days: Sequence[tuple[date, int, int]]) -> BarChart:
    """Paired bars per day: (day, remember calls, recall calls) oldest first."""
    top = _nice_ceiling(max((max(r, q) for _, r, q in days), default=0))
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / max(len(days), 1)
    bar_width = slot * 0.36
    bars: list[Bar] = []
    labels: list[DayLabel] = []
    for index, (day, remembers, recalls) in enumerate(days):
        x = LEFT + index * slot + slot * 0.14
        for offset, series, count in ((0.0, "remember", remembers), (1.0, "recall", recalls)):
            height = plot_height * count / top
            bars.append(
                Bar(
                    x=round(x + offset * bar_width, 1),
                    y=round(TOP + plot_height - height, 1),
                    width=round(bar_width, 1),
                    height=round(height, 1),
                    series=series,
                    title=f"{day:%b %-d}: {count:,} {series} call{'s' if count != 1 else ''}",
                )
            )
        # Every other day, counted back from today, so today is always labelled.
        if len(days) <= 7 or (len(days) - 1 - index) % 2 == 0:
            labels.append(DayLabel(x=round(x + bar_width, 1), label=f"{day:%b %-d}"))
    gridlines = [
        Gridline(
            y=round(TOP + plot_height * (1 - step / GRIDLINES), 1),
            label=f"{top * step // GRIDLINES:,}",
        )
        for step in range(GRIDLINES + 1)
    ]
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        gridlines=gridlines,
        days=labels,
        total=sum(r + q for _, r, q in days),
    )
