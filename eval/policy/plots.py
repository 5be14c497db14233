"""policy.png: success per task and suite mean, in distribution and under each shift, with 95 % intervals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dynaflip.io import atomic_path

from ..results import ResultRow
from .aggregate import table_groups


def plot_success(rows: Sequence[ResultRow], path: str | Path, *, splits: Sequence[str], title: str) -> Path:
    """Grouped bars: one group per task (and the mean), one bar per split; error bars are the intervals."""
    import matplotlib

    matplotlib.use("Agg")  # no display; never opens a window
    import matplotlib.pyplot as plt

    cells = {(row.group, row.split): row for row in rows}
    groups = table_groups(rows)
    width = 0.8 / len(splits)
    figure, axis = plt.subplots(figsize=(max(6.0, 0.15 * len(groups) * len(splits) + 3.0), 4.2))
    colours = plt.get_cmap("tab10")
    for index, split in enumerate(splits):
        xs, means, errors = [], [], [[], []]
        for position, group in enumerate(groups):
            row = cells.get((group, split))
            if row is None:
                continue
            xs.append(position + (index - (len(splits) - 1) / 2) * width)
            means.append(100 * row.mean)
            errors[0].append(100 * max(0.0, row.mean - row.low))
            errors[1].append(100 * max(0.0, row.high - row.mean))
        axis.bar(xs, means, width=width, yerr=errors, capsize=2, label=split, color=colours(index % 10))
    axis.set_xticks(range(len(groups)))
    axis.set_xticklabels([group.removesuffix("-v3") for group in groups], rotation=35, ha="right", fontsize=8)
    axis.set_ylabel("success (%)")
    axis.set_ylim(0, 105)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=120)
    plt.close(figure)
    return path
