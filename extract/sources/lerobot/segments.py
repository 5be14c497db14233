"""The instruction of each part of an episode.

An episode's frames carry a per-frame ``task_index``. When it stays the same, the episode is one clip with
that task as its instruction. When it changes (multi-task or sub-task annotated episodes), the episode is
split at each change into consecutive segments, each with its own task, so an instruction never labels
frames of another task. Without a ``task_index`` column, the first task the episode table lists is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynaflip.errors import DynaflipError

from .episodes import Episode
from .frames import EpisodeFrames


class NoInstruction(DynaflipError, ValueError):
    """The episode's frames cannot be given a task string; the message says why (one line)."""


@dataclass(frozen=True)
class Segment:
    first: int  # first frame of the episode in the segment
    last: int  # last frame (inclusive)
    task_index: int | None
    instruction: str


def task_segments(episode: Episode, frames: EpisodeFrames, tasks: dict[int, str]) -> list[Segment]:
    last = len(frames.timestamps) - 1
    if frames.task_indices is None:
        if not episode.tasks:
            raise NoInstruction(f"episode {episode.index}: no task_index column and no tasks in the episode table")
        return [Segment(0, last, None, episode.tasks[0])]
    indices = frames.task_indices
    starts = np.flatnonzero(np.concatenate([[True], indices[1:] != indices[:-1]]))
    ends = np.concatenate([starts[1:] - 1, [last]])
    segments = []
    for first, end in zip(starts.tolist(), ends.tolist(), strict=True):
        task_index = int(indices[first])
        if task_index not in tasks:
            known = f"0..{max(tasks)}" if tasks else "none"
            raise NoInstruction(
                f"episode {episode.index}: frame {first}: task_index {task_index} is not in the task table ({known})"
            )
        segments.append(Segment(first, end, task_index, tasks[task_index]))
    return segments
