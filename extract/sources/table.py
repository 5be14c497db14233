"""Annotation tables (CSV, TSV, JSONL, or a JSON list of objects) read row by row, each row knowing its line.

One bad row becomes a :class:`Row` with ``error`` set (the source turns it into a SkippedClip); only a file
that cannot be read at all raises :class:`TableError`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynaflip.errors import DynaflipError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


class TableError(DynaflipError, ValueError):
    """The table as a whole cannot be read (missing, unknown format, no header, not UTF-8, broken CSV)."""


@dataclass(frozen=True)
class Row:
    """One record: ``values`` maps column to value (CSV cells are stripped strings), or ``error`` says why not.

    ``line`` is the 1-based line where the record starts; for a JSON list it is the item's 0-based index.
    """

    path: str
    line: int
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    is_item: bool = False

    @property
    def where(self) -> str:
        """``table.csv:12`` (line) or ``labels.json[11]`` (JSON list item), for error details."""
        return f"{self.path}[{self.line}]" if self.is_item else f"{self.path}:{self.line}"


def table_format(path: str | os.PathLike[str]) -> str:
    """csv, tsv, jsonl or json from the file extension (case-insensitive)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise TableError(f"{path}: unknown table format {suffix!r}; expected one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


def read_table(path: str | os.PathLike[str], *, format: str | None = None) -> Iterator[Row]:
    """The rows of a CSV/TSV/JSONL table or a JSON list, in file order. ``format`` overrides the extension."""
    kind = format or table_format(path)
    if not Path(path).is_file():
        raise TableError(f"{path}: table not found")
    try:
        if kind in ("csv", "tsv"):
            yield from _delimited(path, delimiter="," if kind == "csv" else "\t")
        elif kind == "jsonl":
            yield from _json_lines(path)
        elif kind == "json":
            yield from json_items(load_json(path), path=str(path))
        else:
            raise TableError(f"{path}: unknown table format {kind!r}")
    except UnicodeDecodeError as error:
        raise TableError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def load_json(path: str | os.PathLike[str]) -> Any:
    """A whole JSON document; a syntax error is a :class:`TableError` with line and column."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise TableError(f"{path}:{error.lineno}: invalid JSON ({error.msg}, column {error.colno})") from None


def json_items(document: Any, *, path: str) -> Iterator[Row]:
    """Rows of a JSON list of objects (one Row per item, non-objects as error rows)."""
    if not isinstance(document, list):
        raise TableError(f"{path}: expected a JSON list of objects, got {type(document).__name__}")
    for index, item in enumerate(document):
        if isinstance(item, dict):
            yield Row(path, index, values=item, is_item=True)
        else:
            yield Row(path, index, error=f"expected a JSON object, got {type(item).__name__}", is_item=True)


def _delimited(path: str | os.PathLike[str], *, delimiter: str) -> Iterator[Row]:
    # utf-8-sig drops the byte-order mark spreadsheet programs put in front of the header
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise TableError(f"{path}: empty table, expected a header row") from None
        if not any(header) or len(set(header)) != len(header):
            raise TableError(f"{path}:1: expected a header of distinct column names, got {header}")
        previous = reader.line_num
        try:
            for cells in reader:
                start, previous = previous + 1, reader.line_num  # quoted cells may span lines
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    yield Row(str(path), start, error=f"expected {len(header)} columns, got {len(cells)}")
                    continue
                yield Row(str(path), start, values={k: v.strip() for k, v in zip(header, cells, strict=True)})
        except csv.Error as error:
            raise TableError(f"{path}:{reader.line_num}: unreadable CSV ({error})") from None


def _json_lines(path: str | os.PathLike[str]) -> Iterator[Row]:
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                yield Row(str(path), number, error=f"invalid JSON ({error.msg}, column {error.colno})")
                continue
            if isinstance(value, dict):
                yield Row(str(path), number, values=value)
            else:
                yield Row(str(path), number, error=f"expected a JSON object, got {type(value).__name__}")
