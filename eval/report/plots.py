"""The report's figures: id_vs_ood.png (every encoder's score per split) and ood_gain.png (gains over the
baseline per split), one panel per (kind, metric), error bars = 95 % intervals.

Bounded and legible: each panel's y range stays inside the metric's bounds (success and accuracy 0-100 %,
errors from 0, scores at most 1); a bar or an interval end beyond the shown range (a score far below 0) is
cut at the edge and marked with a triangle and its value; a bar without an interval is hatched. Titles
state n; calibration encoders are labelled.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dynaflip.io import atomic_path

from .gains import Gain
from .markdown import PERCENT_METRICS, cell_n
from .summary import Cell, MetricTable, bounds

LABEL_WIDTH = 22  # characters per line of an encoder's tick label
SCORE_FLOOR = -1.0  # scores (R², skill) below this are cut at the axis and marked: one -240 flattens the rest


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def value_range(metric: str, items: Sequence[Cell | Gain | None], *, difference: bool = False) -> tuple[float, float]:
    """The y range of a panel (unscaled). Values: the metric's bounds where finite (0-1 for rates, from 0 for
    errors, up to 1 for scores), else the data's, scores cut at :data:`SCORE_FLOOR`. Differences: the data's,
    within the difference's bounds (+-1 for rates; +-2 where unbounded)."""
    low, high = bounds(metric)
    numbers = [v for item in items if item is not None for v in (item.mean, item.low, item.high) if _finite(v)]
    data_low, data_high = min([*numbers, 0.0]), max([*numbers, 0.0])
    if difference:
        span = high - low
        limit = span if math.isfinite(span) else 2.0
        bottom, top = max(data_low, -limit), min(data_high, limit)
    else:
        bottom = low if math.isfinite(low) else max(data_low, SCORE_FLOOR)
        top = high if math.isfinite(high) else data_high
    pad = 0.05 * ((top - bottom) or 1.0)
    return bottom - (0.0 if not difference and math.isfinite(low) else pad), top + pad


def _bars(
    axis: Any,
    groups: list[str],
    series: dict[str, list[Cell | Gain | None]],
    *,
    scale: float,
    limits: tuple[float, float],
) -> list[str]:
    """Grouped bars: ``groups`` on x, one bar per series entry; missing or non-finite values are skipped;
    bars and interval ends outside ``limits`` (unscaled) are cut at the edge and marked. Returns notes for the
    title: what the hatching and the triangles mean, when present."""
    notes: dict[str, None] = {}
    colours = _pyplot().get_cmap("tab10")
    width = 0.8 / max(1, len(series))
    bottom, top = limits
    for index, (name, cells) in enumerate(series.items()):
        for position, cell in enumerate(cells):
            if cell is None or not _finite(cell.mean):
                continue
            x = position + (index - (len(series) - 1) / 2) * width
            mean = min(top, max(bottom, cell.mean))
            error = None
            if cell.has_interval:
                low, high = min(top, max(bottom, cell.low)), min(top, max(bottom, cell.high))
                error = [[scale * max(0.0, mean - low)], [scale * max(0.0, high - mean)]]
            else:
                notes["hatched: no interval"] = None
            axis.bar(
                x,
                scale * mean,
                width=width,
                yerr=error,
                capsize=2,
                color=colours(index % 10),
                hatch=None if cell.has_interval else "//",
                edgecolor="white" if cell.has_interval else "black",
                linewidth=0.3,
                label=name if position == next(i for i, c in enumerate(cells) if c is not None) else None,
            )
            if cell.mean < bottom or cell.mean > top:  # cut at the axis: say so, with the true value
                notes["triangle: bar cut at the axis, true value printed"] = None
                edge = bottom if cell.mean < bottom else top
                axis.plot([x], [scale * edge], marker="v" if cell.mean < bottom else "^", color="black", markersize=4)
                axis.annotate(
                    f"{scale * cell.mean:.3g}",
                    (x, scale * edge),
                    textcoords="offset points",
                    xytext=(0, 8 if cell.mean < bottom else -12),
                    ha="center",
                    fontsize=6,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
                )
    axis.set_xticks(range(len(groups)))
    axis.set_xticklabels([textwrap.fill(group, LABEL_WIDTH) for group in groups], fontsize=7)
    axis.set_ylim(scale * bottom, scale * top)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return list(notes)


def _title(axis: Any, parts: list[str]) -> None:
    """The panel's title, wrapped to the figure's width."""
    characters = int(axis.figure.get_figwidth() * 12)
    axis.set_title(textwrap.fill("; ".join(parts), characters), fontsize=9)


def _figure(panels: int, *, groups: int) -> tuple[Any, list[Any]]:
    """One panel per row (long encoder labels need the width), wide enough for ``groups`` bar groups."""
    plt = _pyplot()
    rows = max(1, panels)
    figure, axes = plt.subplots(rows, 1, figsize=(max(6.0, 1.6 * groups + 3.0), 3.4 * rows), squeeze=False)
    return figure, [axis for row in axes for axis in row]


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=110)
    _pyplot().close(figure)
    return path


def _label(table: MetricTable, *, prefix: str = "") -> str:
    unit = " (%)" if table.metric in PERCENT_METRICS else (" (cm)" if table.metric == "rmse_cm" else "")
    return f"{prefix}{table.metric}{unit}" + (" (lower is better)" if table.lower_is_better else "")


def _sizes(table: MetricTable) -> str:
    sizes = list(dict.fromkeys(cell_n(cells) for cells in table.cells.values()))
    return "n = " + "; ".join(sizes) + (" per split" if table.kind == "policy" else "")


def plot_id_vs_ood(tables: Sequence[MetricTable], path: str | Path, *, roles: dict[str, str] | None = None) -> Path:
    """Per (kind, metric): x = encoders (calibration runs labelled), bars = 'id', each shift and the OOD mean."""
    roles = roles or {}
    figure, axes = _figure(len(tables), groups=max((len(table.cells) for table in tables), default=1))
    for axis, table in zip(axes, tables, strict=False):
        labels = list(table.cells)
        series = {split: [table.cells[label].get(split) for label in labels] for split in table.splits}
        ticks = [f"{label} [calibration: {roles[label]}]" if label in roles else label for label in labels]
        limits = value_range(table.metric, [cell for cells in series.values() for cell in cells])
        notes = _bars(axis, ticks, series, scale=100.0 if table.metric in PERCENT_METRICS else 1.0, limits=limits)
        _title(axis, [f"{table.kind} / {table.metric}: ID vs OOD, 95 % intervals", _sizes(table), *notes])
        axis.set_ylabel(_label(table), fontsize=8)
    if not tables:
        axes[0].text(0.5, 0.5, "no results", ha="center", va="center")
    return _save(figure, Path(path))


def plot_gains(
    tables: Sequence[MetricTable],
    gains: dict[str, dict[str, dict[str, Gain]]],
    path: str | Path,
    *,
    baseline: str | None,
) -> Path:
    """Per (kind, metric): x = the other encoders (not the calibration runs), bars = gain over ``baseline``."""
    others = max((len(by_encoder) for by_encoder in gains.values()), default=1)
    figure, axes = _figure(len(tables), groups=others)
    for axis, table in zip(axes, tables, strict=False):
        by_encoder = gains.get(f"{table.kind}/{table.metric}", {})
        labels = list(by_encoder)
        if not labels:
            what = f"no encoder besides {baseline}" if baseline else "no baseline (only calibration runs)"
            axis.text(0.5, 0.5, f"{what}\nhas {table.kind}/{table.metric}", ha="center")
            axis.set_axis_off()
            continue
        series = {split: [by_encoder[label].get(split) for label in labels] for split in table.splits}
        limits = value_range(table.metric, [g for gains_ in series.values() for g in gains_], difference=True)
        notes = _bars(axis, labels, series, scale=100.0 if table.metric in PERCENT_METRICS else 1.0, limits=limits)
        axis.axhline(0.0, color="black", linewidth=0.8)
        _title(axis, [f"{table.kind} / {table.metric}: gain over {baseline}, 95 % intervals", _sizes(table), *notes])
        axis.set_ylabel(_label(table, prefix="Δ "), fontsize=8)
    if not tables:
        axes[0].text(0.5, 0.5, "no results", ha="center", va="center")
    return _save(figure, Path(path))
