"""``probes.png``: one panel per probe (the median over probes first), a bar per test split (ID, then each
shift) with its 95 % interval.

The score axis is fixed to [SCORE_FLOOR, 1] so that panels and encoders compare at a glance. A bar whose
value lies below the floor is cut at the floor, hatched, and labelled with its value; an interval that runs
below the floor ends in an arrow. Rows without an interval get no error bar (never a zero-width one). The
task-accuracy panel draws the chance level, 1 / number of tasks, as a dashed line. The title's notes are
wrapped to the figure's width, and the panels start below them.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

from dynaflip.io import atomic_path

from ..results import ResultRow
from .report import METRIC_TITLES, SPLIT_TITLES, splits_of
from .scoring import ACCURACY, MEDIAN_GROUP, SCORE

SCORE_FLOOR = -1.0
COLUMNS = 3  # panels per line
TITLE_SIZE = 10  # points


def _limits(metric: str) -> tuple[float, float]:
    return (SCORE_FLOOR, 1.0) if metric == SCORE else (0.0, 1.0)


def plot_probes(
    rows: list[ResultRow], path: str | Path, *, title: str, subtitle: str = "", chance: float | None = None
) -> Path:
    """Draw the score of every regression probe, the median score and the task accuracy; write the PNG
    atomically. ``subtitle``: a second title line (e.g. n); ``chance``: the task probe's chance accuracy
    (default: 1 / the tasks its rows' n records)."""
    import matplotlib.pyplot as plt

    figure = draw_probes(rows, title=title, subtitle=subtitle, chance=chance)
    path = Path(path)
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=110)
    plt.close(figure)
    return path


def _chance(rows: list[ResultRow], chance: float | None) -> float | None:
    if chance is not None:
        return chance
    tasks = next((row.n.get("tasks") for row in rows if row.metric == ACCURACY and row.n.get("tasks")), None)
    return 1.0 / tasks if tasks else None


def draw_probes(rows: list[ResultRow], *, title: str, subtitle: str = "", chance: float | None = None) -> Any:
    """The matplotlib figure of :func:`plot_probes` (the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on clusters or in tests
    import matplotlib.pyplot as plt

    main = [row for row in rows if row.metric in (SCORE, ACCURACY)]
    groups = list(dict.fromkeys(row.group for row in main))
    groups = sorted(groups, key=lambda group: group != MEDIAN_GROUP)
    splits = splits_of(main)
    index = {(row.group, row.split): row for row in main}
    colours = plt.get_cmap("tab10")
    panels = max(len(groups), 1)
    columns = min(panels, COLUMNS)
    lines = math.ceil(panels / columns)
    width = 1.2 + 0.42 * max(len(splits), 2)
    panels_height = 0.6 + 3.1 * lines
    figure, axes = plt.subplots(lines, columns, figsize=(max(width * columns, 4.0), panels_height), squeeze=False)
    for axis in axes.flat[panels:]:
        axis.set_visible(False)
    clipped_any = False
    for axis, group in zip(axes.flat, groups, strict=False):
        metric = next(row.metric for row in main if row.group == group)
        low_limit, high_limit = _limits(metric)
        for position, split in enumerate(splits):
            row = index.get((group, split))
            if row is None or not math.isfinite(row.mean):
                axis.text(position, 0.02, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
                continue
            clipped = row.mean < low_limit
            clipped_any |= clipped
            shown = max(row.mean, low_limit)
            axis.bar(
                position,
                shown,
                color=colours(position % 10),
                hatch="///" if clipped else None,
                edgecolor="black" if clipped else None,
                linewidth=0.6 if clipped else 0.0,
            )
            if clipped:
                box = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
                axis.text(position, low_limit + 0.22, f"{row.mean:.1f}", ha="center", va="bottom", fontsize=7, bbox=box)
            if math.isfinite(row.low) and math.isfinite(row.high):
                if row.high > low_limit:  # the part of the interval inside the axis
                    low, high = max(row.low, low_limit), min(row.high, high_limit)
                    centre = min(max(row.mean, low), high)
                    axis.errorbar(position, centre, yerr=[[centre - low], [high - centre]], color="black", capsize=3)
                if row.low < low_limit:
                    axis.annotate(
                        "",
                        xy=(position, low_limit),
                        xytext=(position, low_limit + 0.12),
                        arrowprops={"arrowstyle": "->", "color": "black", "linewidth": 0.8},
                    )
        axis.set_xticks(range(len(splits)), [SPLIT_TITLES.get(s, s) for s in splits], rotation=45, ha="right")
        axis.set_title("median over probes" if group == MEDIAN_GROUP else group, fontsize=10)
        axis.set_ylabel(METRIC_TITLES.get(metric, metric))
        axis.axhline(0.0, color="black", linewidth=0.6)
        level = _chance(rows, chance) if metric == ACCURACY else None
        if level is not None:
            axis.axhline(
                level, color="black", linestyle="--", linewidth=1.0, zorder=3, label=f"chance ({level:.2g})"
            )  # over the bars: a bar at chance level shows it
            axis.legend(loc="upper right", fontsize=7, frameon=True, framealpha=0.85)
        axis.set_ylim(low_limit, high_limit + 0.05)
        axis.set_xlim(-0.6, len(splits) - 0.4)
    notes = [subtitle] if subtitle else []
    if clipped_any:
        notes.append(f"hatched bars: value below {SCORE_FLOOR:g}, cut at the axis (value printed)")
    # Wrap to the figure's width (about 0.55 em per character), then grow the figure by the title's lines and
    # keep the panels below them, so no note is cut off however narrow the figure.
    characters = max(int(figure.get_figwidth() * 72 / (0.55 * TITLE_SIZE)), 20)
    text = "\n".join(textwrap.fill(part, characters) for part in [title, "; ".join(notes)] if part)
    figure.suptitle(text, fontsize=TITLE_SIZE)
    title_height = (text.count("\n") + 1) * TITLE_SIZE * 1.3 / 72 + 0.1  # inches
    figure.set_size_inches(figure.get_figwidth(), panels_height + title_height)
    figure.tight_layout()  # places the panels below the suptitle's lines
    return figure
