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
# Optional (LeRobot's subtask annotation): subtask_index -> subtask string, the string as the pandas index.
SUBTASKS_PARQUET = "meta/subtasks.parquet"


def read_tasks(meta: DatasetMeta) -> dict[int, str]:
    if meta.major == 2:
        return _read_jsonl(meta.root / TASKS_JSONL)
    return _read_parquet(meta.root / TASKS_PARQUET)


def read_subtasks(meta: DatasetMeta) -> dict[int, str]:
    """The subtask table when the dataset has one (``meta/subtasks.parquet``, any version), else empty."""
    path = meta.root / SUBTASKS_PARQUET
    if not path.is_file():
        return {}
    try:
        columns = read_columns(path, ["subtask_index", "subtask"], index_as="subtask")
    except ParquetUnreadable as error:
        raise LeRobotFormatError(str(error)) from None
    subtasks: dict[int, str] = {}
    for row, (index, text) in enumerate(zip(columns["subtask_index"], columns["subtask"], strict=True)):
        _add(subtasks, index, text, f"{path}: row {row}", names=("subtask_index", "subtask"))
    return subtasks


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


def _add(
    tasks: dict[int, str], index: Any, task: Any, where: str, *, names: tuple[str, str] = ("task_index", "task")
) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise LeRobotFormatError(f"{where}: field '{names[0]}': expected an integer >= 0, got {index!r}")
    if not isinstance(task, str) or not task.strip():
        raise LeRobotFormatError(f"{where}: field '{names[1]}': expected a non-empty string, got {task!r}")
    if index in tasks and tasks[index] != task:
        raise LeRobotFormatError(f"{where}: field '{names[0]}': {index} is already {tasks[index]!r}")
    tasks[index] = " ".join(task.split())
