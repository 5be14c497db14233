"""The result file every evaluation writes and ``dynaflip-report`` reads.

``results.json``::

    {"kind": "probe" | "policy",
     "encoder": {"name", "spec", "identity", "parameters"},
     "config": {...everything that produced the numbers...},
     "rows": [{"group": probe or task name (or "mean", "iqm", "median": a summary over groups),
               "split": "id" or a shift name, "metric": "score" | "rmse_cm" | "r2" | "mse" | "accuracy" |
               "success", "mean", "low", "high" (95 % interval; null ends when there is none),
               "values": [per seed], "n": {"tasks": .., "seeds": .., "episodes": ..} (the units behind the
               number; may be empty in older files), "interval": how the interval was made, or why there is
               none (e.g. "no interval: n too small (n = 1 seed)")}],
     "timing": {"seconds": ..., ...},
     "dynaflip_version": ...}
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dynaflip import __version__
from dynaflip.errors import DynaflipError
from dynaflip.io import atomic_write_json

from .encoders import EvalEncoder
from .stats import Interval, t_interval

ID_SPLIT = "id"
# Calibration encoders of the policy instrument (spec -> role): the simulator's state through the same BC
# (the ceiling) and proprioception only (the floor). Shown beside the encoders, never compared as competitors.
CALIBRATION_ROLES = {"oracle:state": "ceiling", "blind": "floor"}


def calibration_role(spec: str | None) -> str | None:
    """'ceiling', 'floor' or None for an encoder spec (options after '?' ignored)."""
    return CALIBRATION_ROLES.get(str(spec or "").split("?", 1)[0].strip())


@dataclass
class ResultRow:
    group: str
    split: str
    metric: str
    mean: float
    low: float
    high: float
    values: list[float] = field(default_factory=list)
    n: dict[str, int] = field(default_factory=dict)
    interval: str = ""

    def __post_init__(self) -> None:
        # results.json stores NaN (no interval, an undefined score) as null, strict JSON; rows hold NaN.
        self.mean, self.low, self.high = (math.nan if v is None else v for v in (self.mean, self.low, self.high))
        self.values = [math.nan if v is None else v for v in self.values]

    def to_json(self) -> dict[str, Any]:
        """The row for results.json: NaN as null."""

        def plain(value: Any) -> Any:
            return None if isinstance(value, float) and not math.isfinite(value) else value

        data = asdict(self)
        data.update({key: plain(data[key]) for key in ("mean", "low", "high")})
        data["values"] = [plain(value) for value in data["values"]]
        return data

    @classmethod
    def from_values(cls, *, group: str, split: str, metric: str, values: list[float], unit: str = "seeds") -> ResultRow:
        """The mean of ``values`` (one per repeated ``unit``) with its Student-t interval; none (NaN ends) for one
        value or identical values, the reason in ``interval``."""
        return cls.from_interval(
            group=group, split=split, metric=metric, interval=t_interval(values, unit=unit), values=values
        )

    @classmethod
    def from_interval(
        cls, *, group: str, split: str, metric: str, interval: Interval, values: list[float] | None = None
    ) -> ResultRow:
        return cls(
            group=group,
            split=split,
            metric=metric,
            mean=interval.estimate,
            low=interval.low,
            high=interval.high,
            values=list(values or []),
            n=dict(interval.n),
            interval=interval.method,
        )

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


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
            "rows": [row.to_json() for row in rows],
            "timing": timing,
            "dynaflip_version": __version__,
        },
    )
    return path


class ResultFileError(DynaflipError, ValueError):
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
