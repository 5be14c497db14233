"""The report's figures: id_vs_ood.png (every encoder's score per split) and ood_gain.png (gains over the
baseline per split), one panel per (kind, metric), error bars = 95 % intervals."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dynaflip.io import atomic_path

from .gains import Gain
from .markdown import PERCENT_METRICS
from .summary import Cell, MetricTable

LABEL_WIDTH = 22  # characters per line of an encoder's tick label


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _bars(axis: Any, groups: list[str], series: dict[str, list[Cell | Gain | None]], *, scale: float) -> None:
    """Grouped bars: ``groups`` on x, one bar per series entry; missing or non-finite values are skipped."""
    colours = _pyplot().get_cmap("tab10")
    width = 0.8 / max(1, len(series))
    for index, (name, cells) in enumerate(series.items()):
        xs, heights, errors = [], [], [[], []]
        for position, cell in enumerate(cells):
            if cell is None or not math.isfinite(cell.mean):
                continue
            xs.append(position + (index - (len(series) - 1) / 2) * width)
            heights.append(scale * cell.mean)
            errors[0].append(scale * max(0.0, cell.mean - cell.low) if math.isfinite(cell.low) else 0.0)
            errors[1].append(scale * max(0.0, cell.high - cell.mean) if math.isfinite(cell.high) else 0.0)
        axis.bar(xs, heights, width=width, yerr=errors, capsize=2, label=name, color=colours(index % 10))
    axis.set_xticks(range(len(groups)))
    axis.set_xticklabels([textwrap.fill(group, LABEL_WIDTH) for group in groups], fontsize=7)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


def _figure(panels: int, *, groups: int) -> tuple[Any, list[Any]]:
    """One panel per row (long encoder labels need the width), wide enough for ``groups`` bar groups."""
    plt = _pyplot()
    rows = max(1, panels)
    figure, axes = plt.subplots(rows, 1, figsize=(max(6.0, 1.6 * groups + 3.0), 3.2 * rows), squeeze=False)
    return figure, [axis for row in axes for axis in row]


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=110)
    _pyplot().close(figure)
    return path


def _label(table: MetricTable, *, prefix: str = "") -> str:
    unit = " (%)" if table.metric in PERCENT_METRICS else ""
    return f"{prefix}{table.metric}{unit}" + (" (lower is better)" if table.lower_is_better else "")


def plot_id_vs_ood(tables: Sequence[MetricTable], path: str | Path) -> Path:
    """Per (kind, metric): x = encoders, bars = 'id', each shift and the OOD mean."""
    figure, axes = _figure(len(tables), groups=max((len(table.cells) for table in tables), default=1))
    for axis, table in zip(axes, tables, strict=False):
        labels = list(table.cells)
        series = {split: [table.cells[label].get(split) for label in labels] for split in table.splits}
        _bars(axis, labels, series, scale=100.0 if table.metric in PERCENT_METRICS else 1.0)
        axis.set_title(f"{table.kind}: ID vs OOD", fontsize=10)
        axis.set_ylabel(_label(table), fontsize=8)
    if not tables:
        axes[0].text(0.5, 0.5, "no results", ha="center", va="center")
    return _save(figure, Path(path))


def plot_gains(
    tables: Sequence[MetricTable], gains: dict[str, dict[str, dict[str, Gain]]], path: str | Path, *, baseline: str
) -> Path:
    """Per (kind, metric): x = the other encoders, bars = gain over ``baseline`` per split."""
    others = max((len(by_encoder) for by_encoder in gains.values()), default=1)
    figure, axes = _figure(len(tables), groups=others)
    for axis, table in zip(axes, tables, strict=False):
        by_encoder = gains.get(f"{table.kind}/{table.metric}", {})
        labels = list(by_encoder)
        if not labels:
            axis.text(0.5, 0.5, f"no encoder besides {baseline}\nhas {table.kind}/{table.metric}", ha="center")
            axis.set_axis_off()
            continue
        series = {split: [by_encoder[label].get(split) for label in labels] for split in table.splits}
        _bars(axis, labels, series, scale=100.0 if table.metric in PERCENT_METRICS else 1.0)
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.set_title(textwrap.fill(f"{table.kind}: gain over {baseline}", 90), fontsize=9)
        axis.set_ylabel(_label(table, prefix="Δ "), fontsize=8)
    if not tables:
        axes[0].text(0.5, 0.5, "no results", ha="center", va="center")
    return _save(figure, Path(path))
