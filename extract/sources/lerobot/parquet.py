"""Reading named columns of a parquet file with pyarrow, every failure one line naming the file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dynaflip.errors import DynaflipError


class ParquetUnreadable(DynaflipError, ValueError):
    """The file is missing, not parquet, truncated, or lacks a required column; the message names it."""


def column_names(path: Path) -> list[str]:
    """The column names in the file's schema (its footer only)."""
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except FileNotFoundError:
        raise ParquetUnreadable(f"{path}: not found") from None
    except Exception as error:  # pyarrow raises ArrowInvalid/OSError subtypes for corrupt files
        raise ParquetUnreadable(f"{path}: cannot read as parquet ({_one_line(error)})") from None


def read_columns(
    path: Path, names: Sequence[str], *, optional: Sequence[str] = (), index_as: str | None = None
) -> dict[str, list[Any]]:
    """``{name: values}`` for ``names`` (required) and those of ``optional`` that exist.

    ``index_as``: a pandas-written file may hold that column as its (unnamed) index; it is then read from
    the index column the pandas metadata points to.
    """
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except FileNotFoundError:
        raise ParquetUnreadable(f"{path}: not found") from None
    except Exception as error:
        raise ParquetUnreadable(f"{path}: cannot read as parquet ({_one_line(error)})") from None
    present = set(schema.names)
    source = {name: name for name in [*names, *optional] if name in present}
    if index_as is not None and index_as not in present:
        index_column = _pandas_index_column(schema)
        if index_column is not None:
            source[index_as] = index_column
    missing = [name for name in names if name not in source]
    if missing:
        raise ParquetUnreadable(
            f"{path}: column(s) {', '.join(missing)} missing (expected {', '.join(names)}; "
            f"found {', '.join(schema.names[:12])}{' ...' if len(schema.names) > 12 else ''})"
        )
    try:
        table = pq.read_table(path, columns=sorted(set(source.values())))
    except Exception as error:
        raise ParquetUnreadable(f"{path}: cannot read as parquet ({_one_line(error)})") from None
    return {name: table.column(column).to_pylist() for name, column in source.items()}


def _pandas_index_column(schema: Any) -> str | None:
    metadata = schema.metadata or {}
    try:
        pandas = json.loads(metadata.get(b"pandas", b"{}"))
    except ValueError:
        return None
    columns = [name for name in pandas.get("index_columns", []) if isinstance(name, str)]
    return columns[0] if len(columns) == 1 and columns[0] in schema.names else None


def _one_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:160] if lines else ''}"
