"""One number per (encoder, kind, metric, split) with its 95 % interval, and the OOD mean over shifts.

A split's summary is the file's "mean" row when it has one (the policy evaluation writes the suite mean);
otherwise the average over the groups (e.g. the probes): per seed when every group has one value per seed
(then a Student-t interval over seeds), else the mean of the groups' means and of their interval ends.
The OOD mean averages the shift splits the same way. Groups whose mean is not finite are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from ..results import ID_SPLIT, ResultRow
from ..stats import mean_interval
from .collect import EncoderResults, ResultFile

MEAN_GROUP = "mean"
OOD_SPLIT = "ood mean"
LOWER_IS_BETTER = frozenset({"mse", "mae", "rmse", "error", "loss"})


@dataclass
class Cell:
    """A summarised score: ``values`` per seed (empty when no per-seed values are known)."""

    mean: float
    low: float
    high: float
    values: list[float] = field(default_factory=list)
    method: str = "row"  # row | per-seed mean over groups | mean of group means | per-seed mean over shifts | ...

    def to_json(self) -> dict:
        return asdict(self)


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def combine(cells: Sequence[Cell], *, what: str) -> Cell | None:
    """Average cells: per seed when all have the same number (>1) of finite values, else means and ends."""
    cells = [cell for cell in cells if _finite(cell.mean)]
    if not cells:
        return None
    if len(cells) == 1:
        return cells[0]
    lengths = {len(cell.values) for cell in cells}
    if len(lengths) == 1 and lengths.pop() > 1 and all(all(map(_finite, cell.values)) for cell in cells):
        values = [sum(column) / len(column) for column in zip(*(cell.values for cell in cells), strict=True)]
        mean, low, high = mean_interval(values)
        return Cell(mean=mean, low=low, high=high, values=values, method=f"per-seed mean over {what}")
    count = len(cells)
    return Cell(
        mean=sum(cell.mean for cell in cells) / count,
        low=sum(cell.low for cell in cells) / count,
        high=sum(cell.high for cell in cells) / count,
        method=f"mean of {what} means (interval: mean of their ends)",
    )


def _cell(row: ResultRow) -> Cell:
    return Cell(mean=row.mean, low=row.low, high=row.high, values=list(row.values))


def metrics_of(file: ResultFile) -> list[str]:
    return list(dict.fromkeys(row.metric for row in file.rows))


def splits_of(file: ResultFile, metric: str) -> list[str]:
    """The file's splits for ``metric``, 'id' first, then in file order."""
    splits = list(dict.fromkeys(row.split for row in file.rows if row.metric == metric))
    return sorted(splits, key=lambda split: split != ID_SPLIT)


def split_cell(file: ResultFile, *, metric: str, split: str) -> Cell | None:
    rows = [row for row in file.rows if row.metric == metric and row.split == split]
    for row in rows:
        if row.group == MEAN_GROUP:
            return _cell(row)
    return combine([_cell(row) for row in rows], what="groups")


def ood_cell(file: ResultFile, *, metric: str) -> Cell | None:
    shifts = [split for split in splits_of(file, metric) if split != ID_SPLIT]
    cells = [split_cell(file, metric=metric, split=split) for split in shifts]
    return combine([cell for cell in cells if cell is not None], what="shifts")


@dataclass
class MetricTable:
    """Summaries of one (kind, metric) for every encoder that has it: cells[label][split]."""

    kind: str
    metric: str
    splits: list[str]  # 'id', the shifts, and OOD_SPLIT when there are shifts
    cells: dict[str, dict[str, Cell | None]]

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER


def metric_tables(encoders: Sequence[EncoderResults]) -> list[MetricTable]:
    """One table per (kind, metric) found, in the order first seen."""
    keys = list(
        dict.fromkeys((kind, metric) for e in encoders for kind, f in e.files.items() for metric in metrics_of(f))
    )
    tables = []
    for kind, metric in keys:
        splits: list[str] = []
        cells: dict[str, dict[str, Cell | None]] = {}
        for encoder in encoders:
            file = encoder.files.get(kind)
            if file is None or metric not in metrics_of(file):
                continue
            own = splits_of(file, metric)
            splits += [split for split in own if split not in splits]
            cells[encoder.label] = {split: split_cell(file, metric=metric, split=split) for split in own}
            if len(own) > 1:
                cells[encoder.label][OOD_SPLIT] = ood_cell(file, metric=metric)
        splits = sorted(splits, key=lambda split: split != ID_SPLIT)
        if len(splits) > 1:
            splits.append(OOD_SPLIT)
        tables.append(MetricTable(kind=kind, metric=metric, splits=splits, cells=cells))
    return tables


def normalised_scores(
    encoders: Sequence[EncoderResults], *, kind: str, metric: str, split: str
) -> dict[str, float] | None:
    """Dong et al.'s control-relevant score: each group's (probe's) mean min-max normalised across the
    encoders (best = 1; flipped for lower-is-better metrics), then averaged over groups. None for < 2 encoders."""
    means: dict[str, dict[str, float]] = {}
    for encoder in encoders:
        file = encoder.files.get(kind)
        if file is None:
            continue
        rows = [r for r in file.rows if r.metric == metric and r.split == split and r.group != MEAN_GROUP]
        means[encoder.label] = {row.group: row.mean for row in rows if _finite(row.mean)}
    if len(means) < 2:
        return None
    groups = set.intersection(*(set(values) for values in means.values()))
    if not groups:
        return None
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    totals = dict.fromkeys(means, 0.0)
    for group in groups:
        values = {label: sign * means[label][group] for label in means}
        low, high = min(values.values()), max(values.values())
        for label, value in values.items():
            totals[label] += (value - low) / (high - low) if high > low else 1.0
    return {label: total / len(groups) for label, total in totals.items()}
