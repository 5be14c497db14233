"""The result file every evaluation writes and ``dynaflip-report`` reads.

``results.json``::

    {"kind": "probe" | "policy",
     "encoder": {"name", "spec", "identity", "parameters"},
     "config": {...everything that produced the numbers...},
     "rows": [{"group": probe or task name, "split": "id" or a shift name, "metric": "r2" | "mse" |
               "accuracy" | "success", "mean", "low", "high" (95 % interval), "values": [per seed]}],
     "timing": {"seconds": ..., ...},
     "dynaflip_version": ...}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dynaflip import __version__
from dynaflip.io import atomic_write_json

from .encoders import EvalEncoder
from .stats import mean_interval

ID_SPLIT = "id"


@dataclass
class ResultRow:
    group: str
    split: str
    metric: str
    mean: float
    low: float
    high: float
    values: list[float] = field(default_factory=list)

    @classmethod
    def from_values(cls, *, group: str, split: str, metric: str, values: list[float]) -> ResultRow:
        mean, low, high = mean_interval(values)
        return cls(group=group, split=split, metric=metric, mean=mean, low=low, high=high, values=list(values))


def encoder_summary(encoder: EvalEncoder) -> dict[str, Any]:
    return {"name": encoder.name, "spec": encoder.spec, "identity": encoder.identity, "parameters": encoder.parameters}


def write_results(
    path: str | Path,
    *,
    kind: str,
    encoder: dict[str, Any],
    config: dict[str, Any],
    rows: list[ResultRow],
    timing: dict[str, float],
) -> Path:
    path = Path(path)
    atomic_write_json(
        path,
        {
            "kind": kind,
            "encoder": encoder,
            "config": config,
            "rows": [asdict(row) for row in rows],
            "timing": timing,
            "dynaflip_version": __version__,
        },
    )
    return path


class ResultFileError(ValueError):
    """A result file does not have the expected fields; the message names the file and field."""


def read_results(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ResultFileError(f"{path}: cannot read a result file ({error})") from None
    for key in ("kind", "encoder", "rows"):
        if key not in data:
            raise ResultFileError(f"{path}: field '{key}' is missing (expected a dynaflip results.json)")
    data["rows"] = [ResultRow(**row) for row in data["rows"]]
    return data
