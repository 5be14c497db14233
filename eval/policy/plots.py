"""policy.png: success per task, mean and IQM, in distribution and under each shift, with 95 % intervals.

A bar without an interval (n too small) has no error bar and is hatched; the title states n.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dynaflip.io import atomic_path

from ..results import ResultRow
from .aggregate import table_groups
from .tables import sample_size


def plot_success(rows: Sequence[ResultRow], path: str | Path, *, splits: Sequence[str], title: str) -> Path:
    """Grouped bars: one group per task (and the summaries), one bar per split; error bars are the intervals."""
    import matplotlib

    matplotlib.use("Agg")  # no display; never opens a window
    import matplotlib.pyplot as plt

    cells = {(row.group, row.split): row for row in rows}
    groups = table_groups(rows)
    width = 0.8 / len(splits)
    figure, axis = plt.subplots(figsize=(max(6.0, 0.15 * len(groups) * len(splits) + 3.0), 4.2))
    colours = plt.get_cmap("tab10")
    for index, split in enumerate(splits):
        for position, group in enumerate(groups):
            row = cells.get((group, split))
            if row is None:
                continue
            x = position + (index - (len(splits) - 1) / 2) * width
            error = None
            if row.has_interval:  # ends clipped to [0, 1]: a rate's interval never leaves it
                error = [
                    [100 * max(0.0, row.mean - max(0.0, row.low))],
                    [100 * max(0.0, min(1.0, row.high) - row.mean)],
                ]
            axis.bar(
                x,
                100 * row.mean,
                width=width,
                yerr=error,
                capsize=2,
                color=colours(index % 10),
                hatch=None if row.has_interval else "//",
                edgecolor="white" if row.has_interval else "black",
                linewidth=0.3,
                label=split if position == 0 else None,
            )
    axis.set_xticks(range(len(groups)))
    axis.set_xticklabels([group.removesuffix("-v3") for group in groups], rotation=35, ha="right", fontsize=8)
    axis.set_ylabel("success (%)")
    axis.set_ylim(0, 105)
    hatched = "; hatched: no interval (n too small)" if any(not row.has_interval for row in rows) else ""
    axis.set_title(f"{title}\n{sample_size(rows)}{hatched}", fontsize=9)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=120)
    plt.close(figure)
    return path
