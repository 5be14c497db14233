"""Checked reading of one annotation field, with one-line errors: "field 'x': expected ..., got ...".

Values come from JSON (typed) or CSV (strings), so every reader accepts both: a number or a numeric string,
a list or a JSON string holding one. ``None`` and blank strings count as absent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from dynaflip.errors import DynaflipError
from dynaflip.schema import EMBODIMENTS

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")  # [HH:]MM:SS[.fraction]


class FieldError(DynaflipError, ValueError):
    """One field of one record is wrong; the message names the field, what was expected and what it got."""

    def __init__(self, name: str, expected: str, got: Any) -> None:
        super().__init__(f"field '{name}': expected {expected}, got {show(got)}")
        self.name = name


def show(value: Any, *, limit: int = 80) -> str:
    """A short one-line repr for error messages (repr escapes newlines, so details stay one line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_number(value: Any) -> bool:
    # bool is an int subclass; true/false in a sidecar is a mistake, not a number
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def text_field(record: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """A non-empty string with whitespace runs collapsed (annotations often carry stray newlines/tabs)."""
    value = record.get(name)
    if is_missing(value):
        if required:
            raise FieldError(name, "a non-empty string", value)
        return None
    if not isinstance(value, str):
        raise FieldError(name, "a string", value)
    return " ".join(value.split())


def parse_time(value: Any) -> float:
    """Seconds from a number, a numeric string, or a clock string ``[HH:]MM:SS[.ff]`` (EPIC-Kitchens).

    Raises ValueError (without a field name; callers wrap it in a :class:`FieldError`).
    """
    if _is_number(value):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        match = _CLOCK.match(text)
        if match:
            hours, minutes, secs = match.groups()
            seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(text) from None
    else:
        raise ValueError(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(value)
    return seconds


def time_field(record: Mapping[str, Any], name: str, *, required: bool = False) -> float | None:
    """A time in seconds (see :func:`parse_time`), >= 0."""
    value = record.get(name)
    if is_missing(value):
        if required:
            raise FieldError(name, "a time (seconds or HH:MM:SS.ff)", value)
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise FieldError(name, "a time >= 0 (seconds or HH:MM:SS.ff)", value) from None


def bounds_fields(
    record: Mapping[str, Any], start: str, stop: str, *, required: bool = False
) -> tuple[float | None, float | None]:
    """(start, stop) seconds, checked start < stop when both are given."""
    first = time_field(record, start, required=required)
    last = time_field(record, stop, required=required)
    if first is not None and last is not None and last <= first:
        raise FieldError(stop, f"a time after '{start}' ({first:g} s)", record.get(stop))
    return first, last


def intrinsics_field(record: Mapping[str, Any], name: str) -> tuple[tuple[float, float, float], ...] | None:
    """A 3x3 pinhole matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]] as a list or a JSON string (CSV)."""
    value = record.get(name)
    if is_missing(value):
        return None
    matrix = value
    if isinstance(value, str):
        try:
            matrix = json.loads(value)
        except json.JSONDecodeError:
            raise FieldError(name, "a 3x3 list of numbers (JSON)", value) from None
    rows_ok = isinstance(matrix, list) and len(matrix) == 3
    if not rows_ok or not all(isinstance(row, list) and len(row) == 3 and all(map(_is_number, row)) for row in matrix):
        raise FieldError(name, "a 3x3 list of numbers", value)
    if matrix[0][0] <= 0 or matrix[1][1] <= 0:
        raise FieldError(name, "fx (row 0, column 0) and fy (row 1, column 1) > 0", value)
    # A transposed matrix (cx, cy in the bottom row) is the usual mistake; it would shift every 3D point.
    if [float(x) for x in matrix[2]] != [0.0, 0.0, 1.0] or matrix[1][0] != 0:
        raise FieldError(name, "a pinhole matrix with rows [fx, s, cx], [0, fy, cy], [0, 0, 1]", value)
    return tuple(tuple(float(x) for x in row) for row in matrix)  # type: ignore[return-value]


def embodiment_field(record: Mapping[str, Any], name: str, *, default: str) -> str:
    value = record.get(name)
    if is_missing(value):
        return default
    if not isinstance(value, str) or value.strip() not in EMBODIMENTS:
        raise FieldError(name, f"one of {', '.join(EMBODIMENTS)}", value)
    return value.strip()


def milliseconds(seconds: float) -> int:
    """Whole milliseconds, the unit of the bounds in clip ids (stable across runs and float noise)."""
    return round(seconds * 1000)
