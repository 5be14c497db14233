"""The task table: ``task_index`` -> task string (the natural-language instruction of the frames).

v2.x: ``meta/tasks.jsonl``, one ``{"task_index": i, "task": "..."}`` per line. v3.x: ``meta/tasks.parquet``,
written by pandas with the task string as the index (stored as a ``task`` column) and a ``task_index``
column. The table is small and every clip needs it, so a missing or broken one stops the run at its start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .meta import DatasetMeta, LeRobotFormatError
from .parquet import ParquetUnreadable, read_columns

TASKS_JSONL = "meta/tasks.jsonl"
TASKS_PARQUET = "meta/tasks.parquet"


def read_tasks(meta: DatasetMeta) -> dict[int, str]:
    if meta.major == 2:
        return _read_jsonl(meta.root / TASKS_JSONL)
    return _read_parquet(meta.root / TASKS_PARQUET)


def _read_jsonl(path: Path) -> dict[int, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LeRobotFormatError(f"{path}: not found (expected the v2.x task table)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LeRobotFormatError(f"{path}: cannot read ({type(error).__name__})") from None
    tasks: dict[int, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise LeRobotFormatError(f"{path}:{number}: invalid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise LeRobotFormatError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        _add(tasks, record.get("task_index"), record.get("task"), f"{path}:{number}")
    return tasks


def _read_parquet(path: Path) -> dict[int, str]:
    if not path.is_file():
        raise LeRobotFormatError(f"{path}: not found (expected the v3.x task table)")
    try:
        columns = read_columns(path, ["task_index", "task"], index_as="task")
    except ParquetUnreadable as error:
        raise LeRobotFormatError(str(error)) from None
    tasks: dict[int, str] = {}
    for row, (index, task) in enumerate(zip(columns["task_index"], columns["task"], strict=True)):
        _add(tasks, index, task, f"{path}: row {row}")
    return tasks


def _add(tasks: dict[int, str], index: Any, task: Any, where: str) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise LeRobotFormatError(f"{where}: field 'task_index': expected an integer >= 0, got {index!r}")
    if not isinstance(task, str) or not task.strip():
        raise LeRobotFormatError(f"{where}: field 'task': expected a non-empty string, got {task!r}")
    if index in tasks and tasks[index] != task:
        raise LeRobotFormatError(f"{where}: field 'task_index': {index} is already the task {tasks[index]!r}")
    tasks[index] = " ".join(task.split())
