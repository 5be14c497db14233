"""``probes.png``: one panel per probe, a bar per test split (ID, then each shift) with 95 % error bars."""

from __future__ import annotations

import math
from pathlib import Path

from dynaflip.io import atomic_path

from ..results import ResultRow
from .report import METRIC_TITLES, splits_of


def plot_probes(rows: list[ResultRow], path: str | Path, *, title: str) -> Path:
    """Draw the main metric of every probe (R², or accuracy) and write the PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on clusters or in tests
    import matplotlib.pyplot as plt

    main = [row for row in rows if row.metric in ("r2", "accuracy")]
    groups = list(dict.fromkeys(row.group for row in main))
    splits = splits_of(main)
    index = {(row.group, row.split): row for row in main}
    colours = plt.get_cmap("tab10")
    figure, axes = plt.subplots(
        1, max(len(groups), 1), figsize=(2.2 + 0.45 * len(splits) * len(groups), 3.4), squeeze=False
    )
    for axis, group in zip(axes[0], groups, strict=False):
        cells = [index.get((group, split)) for split in splits]
        means = [row.mean if row and math.isfinite(row.mean) else 0.0 for row in cells]
        errors = [
            [max(row.mean - row.low, 0.0) if row and math.isfinite(row.mean) else 0.0 for row in cells],
            [max(row.high - row.mean, 0.0) if row and math.isfinite(row.mean) else 0.0 for row in cells],
        ]
        axis.bar(range(len(splits)), means, yerr=errors, capsize=3, color=[colours(i % 10) for i in range(len(splits))])
        axis.set_xticks(range(len(splits)), ["ID" if s == "id" else s for s in splits], rotation=45, ha="right")
        metric = cells[0].metric if cells and cells[0] else "r2"
        axis.set_title(group)
        axis.set_ylabel(METRIC_TITLES.get(metric, metric))
        axis.axhline(0.0, color="black", linewidth=0.6)
        axis.set_ylim(max(min(0.0, min(means) - 0.05), -1.0), 1.05)  # R² far below 0 would flatten the rest
    figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=110)
    plt.close(figure)
    return path
