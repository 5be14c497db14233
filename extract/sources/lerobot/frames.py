"""An episode's frame table from its data parquet: each frame's timestamp and task.

Every LeRobot data file has the columns ``episode_index``, ``frame_index``, ``timestamp`` (seconds from the
episode's start) and ``task_index``; a v3.x file holds many episodes, so the last file read is kept and
the episodes of one file (read in index order) cost one read.

Finer language, where present (LeRobot 0.6): a ``subtask_index`` column (into ``meta/subtasks.parquet``), and the
``language_persistent`` / ``language_events`` columns (lists of ``{role, content, style, ...}`` rows: persistent
rows carry the time from which they hold and are repeated on every frame of the episode; event rows sit on the
frame they fire at). Those lists can be long, so they are read for one episode at a time, filtered on
``episode_index``: LeRobot writes one row group per episode, whose statistics let pyarrow skip the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .parquet import ParquetUnreadable, column_names, read_columns

FRAME_COLUMNS = ["episode_index", "frame_index", "timestamp"]
LANGUAGE_PERSISTENT, LANGUAGE_EVENTS = "language_persistent", "language_events"


@dataclass(frozen=True)
class EpisodeFrames:
    timestamps: np.ndarray  # (T,) float64 seconds from the episode's start, increasing
    task_indices: np.ndarray | None  # (T,) int64, or None when the file has no task_index column
    subtask_indices: np.ndarray | None = None  # (T,) int64 (-1: none), or None without a subtask_index column
    persistent: tuple[dict, ...] = ()  # the episode's language_persistent rows
    events: tuple[tuple[dict, ...], ...] = ()  # per frame, its language_events rows (empty without the column)


class FrameTables:
    """Reads frame tables, keeping the last data file's columns in memory."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._columns: dict[str, np.ndarray] | None = None
        self._error: ParquetUnreadable | None = None
        self._names: set[str] = set()

    def episode(self, path: Path, episode_index: int) -> EpisodeFrames:
        """The frames of ``episode_index`` in ``path``; raises :class:`ParquetUnreadable` naming the file."""
        columns = self._read(path)
        rows = np.flatnonzero(columns["episode_index"] == episode_index)
        if rows.size == 0:
            raise ParquetUnreadable(f"{path}: no rows with episode_index {episode_index}")
        order = rows[np.argsort(columns["frame_index"][rows], kind="stable")]
        frame_index = columns["frame_index"][order]
        if not np.array_equal(frame_index, np.arange(len(order))):
            raise ParquetUnreadable(
                f"{path}: episode {episode_index}: column 'frame_index': expected 0..{len(order) - 1} once each, "
                f"got {_preview(frame_index)}"
            )
        timestamps = columns["timestamp"][order]
        if not np.all(np.isfinite(timestamps)) or np.any(np.diff(timestamps) <= 0):
            raise ParquetUnreadable(
                f"{path}: episode {episode_index}: column 'timestamp': expected finite increasing seconds, "
                f"got {_preview(timestamps)}"
            )
        tasks = columns.get("task_index")
        subtasks = columns.get("subtask_index")
        persistent, events = self._language(path, episode_index, frame_index_order=columns["frame_index"][rows])
        return EpisodeFrames(
            timestamps=timestamps,
            task_indices=None if tasks is None else tasks[order],
            subtask_indices=None if subtasks is None else subtasks[order],
            persistent=persistent,
            events=events,
        )

    def _language(
        self, path: Path, episode_index: int, *, frame_index_order: np.ndarray
    ) -> tuple[tuple[dict, ...], tuple[tuple[dict, ...], ...]]:
        present = [name for name in (LANGUAGE_PERSISTENT, LANGUAGE_EVENTS) if name in self._names]
        if not present:
            return (), ()
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(
                path, columns=["frame_index", *present], filters=[("episode_index", "=", int(episode_index))]
            ).sort_by("frame_index")
        except Exception as error:
            raise ParquetUnreadable(f"{path}: cannot read language columns ({type(error).__name__}: {error})") from None
        persistent: tuple[dict, ...] = ()
        if LANGUAGE_PERSISTENT in present:
            for rows in table.column(LANGUAGE_PERSISTENT).to_pylist():
                if rows:  # the same list on every frame: the first non-empty one is the episode's
                    persistent = tuple(row for row in rows if isinstance(row, dict))
                    break
        events: tuple[tuple[dict, ...], ...] = ()
        if LANGUAGE_EVENTS in present:
            events = tuple(
                tuple(row for row in (rows or []) if isinstance(row, dict))
                for rows in table.column(LANGUAGE_EVENTS).to_pylist()
            )
        if events and len(events) != len(frame_index_order):
            raise ParquetUnreadable(
                f"{path}: episode {episode_index}: column '{LANGUAGE_EVENTS}': {len(events)} rows for "
                f"{len(frame_index_order)} frames"
            )
        return persistent, events

    def _read(self, path: Path) -> dict[str, np.ndarray]:
        if self._path != path:
            # A failure is kept too: each episode of a broken shared file reports it without a new read.
            self._path, self._columns, self._error, self._names = path, None, None, set()
            try:
                self._names = set(column_names(path))
                self._columns = _load(path)
            except ParquetUnreadable as error:
                self._error = error
        if self._error is not None:
            raise self._error
        assert self._columns is not None
        return self._columns


def _load(path: Path) -> dict[str, np.ndarray]:
    raw = read_columns(path, FRAME_COLUMNS, optional=["task_index", "subtask_index"])
    try:
        columns = {name: np.asarray(raw[name], dtype=np.int64) for name in ("episode_index", "frame_index")}
        columns["timestamp"] = np.asarray(raw["timestamp"], dtype=np.float64)
        if "task_index" in raw:
            columns["task_index"] = np.asarray(raw["task_index"], dtype=np.int64)
        if "subtask_index" in raw:  # null where a frame has no subtask
            columns["subtask_index"] = np.asarray([-1 if v is None else v for v in raw["subtask_index"]], np.int64)
    except (TypeError, ValueError) as error:  # None (null) or non-numeric values
        raise ParquetUnreadable(f"{path}: frame columns are not all numbers ({error})") from None
    return columns


def _preview(values: np.ndarray) -> str:
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:6].tolist())
    return f"[{shown}{', ...' if len(values) > 6 else ''}]"
