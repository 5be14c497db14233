"""The instruction of each part of an episode.

An episode's frames carry a per-frame ``task_index``. When it stays the same, the episode is one clip with
that task as its instruction. When it changes (multi-task or sub-task annotated episodes), the episode is
split at each change into consecutive segments, each with its own task, so an instruction never labels
frames of another task. Without a ``task_index`` column, the first task the episode table lists is used.

Finer language replaces the task where a dataset has it (LeRobot 0.6), the finest that holds at each frame:

- a subtask: the ``subtask_index`` column (into ``meta/subtasks.parquet``), or the ``language_persistent`` row
  of style ``subtask`` active at the frame (the latest whose own ``timestamp`` is at or before it, as LeRobot's
  ``active_at`` resolves it);
- a user's instruction given during the episode: a ``language_events`` row of style ``interjection`` (role
  ``user``) holds from its frame until the next subtask or interjection.

Each segment says where its instruction came from (``source``: task, subtask or language-event) and keeps the
episode's task beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynaflip.errors import DynaflipError

from .episodes import Episode
from .frames import EpisodeFrames

SUBTASK_STYLE, INTERJECTION_STYLE = "subtask", "interjection"


class NoInstruction(DynaflipError, ValueError):
    """The episode's frames cannot be given a task string; the message says why (one line)."""


@dataclass(frozen=True)
class Segment:
    first: int  # first frame of the episode in the segment
    last: int  # last frame (inclusive)
    task_index: int | None
    instruction: str
    source: str = "task"  # where the instruction comes from: task, subtask or language-event
    task: str = ""  # the episode's task over these frames (the instruction too when source is task)


def task_segments(
    episode: Episode, frames: EpisodeFrames, tasks: dict[int, str], subtasks: dict[int, str] | None = None
) -> list[Segment]:
    count = len(frames.timestamps)
    task_index = _task_indices(episode, frames, tasks)
    task_text = [
        tasks[int(index)] if index >= 0 else (episode.tasks[0] if episode.tasks else "") for index in task_index
    ]
    finer = _finer_language(frames, subtasks or {})
    labels = [finer[k] if finer[k] is not None else (task_text[k], "task") for k in range(count)]
    segments: list[Segment] = []
    start = 0
    for k in range(1, count + 1):
        if k == count or labels[k] != labels[start] or task_index[k] != task_index[start]:
            text, source = labels[start]
            index = int(task_index[start])
            segments.append(Segment(start, k - 1, None if index < 0 else index, text, source, task_text[start]))
            start = k
    return segments


def _task_indices(episode: Episode, frames: EpisodeFrames, tasks: dict[int, str]) -> np.ndarray:
    count = len(frames.timestamps)
    if frames.task_indices is None:
        if not episode.tasks:
            raise NoInstruction(f"episode {episode.index}: no task_index column and no tasks in the episode table")
        return np.full(count, -1, dtype=np.int64)
    for first in np.flatnonzero(np.concatenate([[True], frames.task_indices[1:] != frames.task_indices[:-1]])):
        index = int(frames.task_indices[first])
        if index not in tasks:
            known = f"0..{max(tasks)}" if tasks else "none"
            raise NoInstruction(
                f"episode {episode.index}: frame {first}: task_index {index} is not in the task table ({known})"
            )
    return np.asarray(frames.task_indices, dtype=np.int64)


def _finer_language(frames: EpisodeFrames, subtasks: dict[int, str]) -> list[tuple[str, str] | None]:
    """Per frame, (instruction, source) from a subtask or a user's interjection, or None (the task holds)."""
    times = np.asarray(frames.timestamps, dtype=np.float64)
    out: list[tuple[str, str] | None] = [None] * len(times)
    if frames.subtask_indices is not None:
        for k, index in enumerate(frames.subtask_indices.tolist()):
            if index in subtasks:
                out[k] = (subtasks[index], "subtask")
    # (time, order, text, source): persistent subtask rows from their own time, interjections from their frame.
    changes: list[tuple[float, int, str, str]] = []
    for row in frames.persistent:
        text = _text(row)
        if row.get("style") == SUBTASK_STYLE and text and isinstance(row.get("timestamp"), (int, float)):
            changes.append((float(row["timestamp"]), 0, text, "subtask"))
    for k, rows in enumerate(frames.events):
        for row in rows:
            text = _text(row)
            if row.get("style") == INTERJECTION_STYLE and row.get("role") == "user" and text:
                changes.append((float(times[k]), 1, text, "language-event"))
    if not changes:
        return out
    changes.sort(key=lambda change: (change[0], change[1]))
    starts = np.asarray([change[0] for change in changes])
    # Persistent timestamps are float32 in the parquet, like the frames': half a microsecond of slack.
    latest = np.searchsorted(starts, times + 5e-7, side="right") - 1
    for k, position in enumerate(latest.tolist()):
        if position >= 0:
            _, _, text, source = changes[position]
            out[k] = (text, source)
    return out


def _text(row: dict) -> str:
    content = row.get("content")
    return " ".join(content.split()) if isinstance(content, str) else ""
