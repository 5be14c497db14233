"""One number per (encoder, kind, metric, split) with its 95 % interval and n, and the OOD mean over shifts.

Policy success with a rollouts.jsonl: from the episodes (hierarchical bootstrap, :mod:`.policy`; passed in as
``episode_cells``). Otherwise from the results.json rows: a split's number is the file's summary row when it
has one (group "median", the probe's headline: the median score over probes; else "mean", the policy suite
mean); otherwise the average over the groups (e.g. the probes). The interval of an average of cells (the
groups of a split, or the shifts for the OOD mean) is the average of their interval ends: for roughly normal,
symmetric intervals it covers at least as often as each (the average's standard error is at most the average
of theirs, with equality under perfect correlation), so it errs wide; there is none when any cell has none.
A recorded zero-width interval (one seed, identical values) is shown as none. Every interval is clipped to its
metric's bounds (success and accuracy in [0, 1], score and R² at most 1, errors at least 0). Groups whose
mean is not finite are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from ..results import ID_SPLIT, ResultRow
from .collect import EncoderResults, ResultFile

MEAN_GROUP = "mean"
MEDIAN_GROUP = "median"
IQM_GROUP = "iqm"
HEADLINE_GROUPS = (MEDIAN_GROUP, MEAN_GROUP)  # the first present is a split's number
SUMMARY_GROUPS = frozenset({MEAN_GROUP, MEDIAN_GROUP, IQM_GROUP})
OOD_SPLIT = "ood mean"
LOWER_IS_BETTER = frozenset({"mse", "mae", "rmse", "rmse_cm", "error", "loss"})
METRIC_BOUNDS = {
    "success": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "score": (-math.inf, 1.0),
    "r2": (-math.inf, 1.0),
    "mse": (0.0, math.inf),
    "mae": (0.0, math.inf),
    "rmse": (0.0, math.inf),
    "rmse_cm": (0.0, math.inf),
}
METRIC_ORDER = ("success", "score", "rmse_cm", "accuracy")  # headline metrics first, then as found
KIND_ORDER = ("policy", "probe")


def bounds(metric: str) -> tuple[float, float]:
    return METRIC_BOUNDS.get(metric, (-math.inf, math.inf))


@dataclass
class Cell:
    """A summarised score: ``values`` per seed (empty when unknown); NaN ends when there is no interval, with
    the reason in ``method``; ``n`` the units behind it (as recorded; may be empty)."""

    mean: float
    low: float
    high: float
    values: list[float] = field(default_factory=list)
    method: str = "row"
    n: dict[str, int] = field(default_factory=dict)

    @property
    def has_interval(self) -> bool:
        return _finite(self.low) and _finite(self.high)

    def clipped(self, metric: str) -> Cell:
        low, high = bounds(metric)

        def clip(value: float) -> float:
            return min(high, max(low, value)) if _finite(value) else value

        return Cell(clip(self.mean), clip(self.low), clip(self.high), list(self.values), self.method, dict(self.n))

    def to_json(self) -> dict:
        return asdict(self)


def _finite(value: float | None) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def combine(cells: Sequence[Cell], *, what: str) -> Cell | None:
    """The average of ``cells`` (see the module docstring); per-seed values when all have the same number."""
    cells = [cell for cell in cells if _finite(cell.mean)]
    if not cells:
        return None
    if len(cells) == 1:
        return cells[0]
    count = len(cells)
    lengths = {len(cell.values) for cell in cells}
    values = []
    if len(lengths) == 1 and lengths.pop() > 0 and all(all(map(_finite, cell.values)) for cell in cells):
        values = [math.fsum(column) / count for column in zip(*(cell.values for cell in cells), strict=True)]
    mean = math.fsum(cell.mean for cell in cells) / count
    n = {**(cells[0].n or ({"seeds": len(values)} if values else {})), what: count}
    if not all(cell.has_interval for cell in cells):
        return Cell(mean, math.nan, math.nan, values, f"no interval: a {what[:-1]} has none", n)
    return Cell(
        mean=mean,
        low=math.fsum(cell.low for cell in cells) / count,
        high=math.fsum(cell.high for cell in cells) / count,
        values=values,
        method=f"mean of {count} {what}' interval ends (conservative)",
        n=n,
    )


def row_cell(row: ResultRow) -> Cell:
    """A row as recorded; a zero-width interval becomes none (it came from one value or identical values)."""
    method = row.interval or "as recorded in results.json"
    cell = Cell(mean=row.mean, low=row.low, high=row.high, values=list(row.values), method=method, n=dict(row.n))
    if cell.has_interval and cell.high - cell.low <= 0.0:
        count = len(row.values)
        reason = f"{count} identical value(s)" if count else "zero width as recorded"
        return Cell(cell.mean, math.nan, math.nan, cell.values, f"no interval: {reason}", cell.n)
    return cell


def metrics_of(file: ResultFile) -> list[str]:
    return list(dict.fromkeys(row.metric for row in file.rows))


def splits_of(file: ResultFile, metric: str) -> list[str]:
    """The file's splits for ``metric``, 'id' first, then in file order."""
    splits = list(dict.fromkeys(row.split for row in file.rows if row.metric == metric))
    return sorted(splits, key=lambda split: split != ID_SPLIT)


def split_cell(file: ResultFile, *, metric: str, split: str) -> Cell | None:
    rows = [row for row in file.rows if row.metric == metric and row.split == split]
    for group in HEADLINE_GROUPS:
        for row in rows:
            if row.group == group:
                return row_cell(row)
    return combine([row_cell(row) for row in rows if row.group not in SUMMARY_GROUPS], what="groups")


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


def _order(key: tuple[str, str], position: int) -> tuple:
    kind, metric = key
    kind_rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    metric_rank = METRIC_ORDER.index(metric) if metric in METRIC_ORDER else len(METRIC_ORDER)
    return kind_rank, metric_rank, position


def metric_tables(
    encoders: Sequence[EncoderResults],
    *,
    episode_cells: Mapping[str, Mapping[str, Cell | None]] | None = None,
    episode_key: tuple[str, str] = ("policy", "success"),
) -> list[MetricTable]:
    """One table per (kind, metric) found: policy success first, then the probe's score, rmse_cm, accuracy,
    then the rest in the order first seen. ``episode_cells[label][split]`` replace the row summaries of
    ``episode_key`` for the encoders they name (computed from their episodes)."""
    keys = list(
        dict.fromkeys((kind, metric) for e in encoders for kind, f in e.files.items() for metric in metrics_of(f))
    )
    keys = [key for _, key in sorted((_order(key, i), key) for i, key in enumerate(keys))]
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
            if (kind, metric) == episode_key and episode_cells and encoder.label in episode_cells:
                cells[encoder.label] = dict(episode_cells[encoder.label])
                continue
            found = {split: split_cell(file, metric=metric, split=split) for split in own}
            if len(own) > 1:
                found[OOD_SPLIT] = ood_cell(file, metric=metric)
            cells[encoder.label] = {
                split: None if cell is None else cell.clipped(metric) for split, cell in found.items()
            }
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
        rows = [r for r in file.rows if r.metric == metric and r.split == split and r.group not in SUMMARY_GROUPS]
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
