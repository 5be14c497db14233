"""The episode table: for each episode, its tasks, its data parquet, and where each camera's frames are.

v2.x: ``meta/episodes.jsonl`` lines ``{"episode_index", "tasks", "length"}``; the files come from the
``data_path`` / ``video_path`` templates with ``episode_chunk = episode_index // chunks_size``, and each
video holds the episode alone (it starts at 0 s).

v3.x: rows of ``meta/episodes/chunk-*/file-*.parquet`` with ``data/chunk_index``, ``data/file_index`` and,
per video key, ``videos/<key>/chunk_index``, ``videos/<key>/file_index``, ``videos/<key>/from_timestamp`` and
``videos/<key>/to_timestamp``: the episode's span inside an mp4 shared with other episodes.

A bad row or an unreadable episodes file is a counted skip; a missing episode table stops the run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...clips import SkippedClip, safe_id
from .meta import DatasetMeta, LeRobotFormatError
from .parquet import ParquetUnreadable, column_names, read_columns

EPISODES_JSONL = "meta/episodes.jsonl"
EPISODES_DIR = "meta/episodes"


@dataclass(frozen=True)
class VideoSpan:
    """Where one camera's frames of one episode are: ``path``, starting ``from_timestamp`` seconds in."""

    path: Path
    from_timestamp: float
    to_timestamp: float | None = None


@dataclass(frozen=True)
class Episode:
    index: int
    tasks: tuple[str, ...]  # the episode's task strings as listed in the episode table
    length: int | None
    data_path: Path
    videos: dict[str, VideoSpan] = field(default_factory=dict, hash=False)  # video key -> span


def episode_id(index: int) -> str:
    return f"episode_{index:06d}"


def read_episodes(meta: DatasetMeta) -> tuple[list[Episode], list[SkippedClip]]:
    """The episodes sorted by index, and the rows/files that could not be read (as skips)."""
    if meta.major == 2:
        episodes, skipped = _read_v2(meta)
    else:
        episodes, skipped = _read_v3(meta)
    unique: dict[int, Episode] = {}
    for episode in episodes:
        if episode.index in unique:
            detail = (
                f"{meta.root}: episode_index {episode.index} is listed twice in the episode table; the first is kept"
            )
            skipped.append(SkippedClip(episode_id(episode.index), str(meta.root), "duplicate-episode", detail))
            continue
        unique[episode.index] = episode
    return [unique[index] for index in sorted(unique)], skipped


def _read_v2(meta: DatasetMeta) -> tuple[list[Episode], list[SkippedClip]]:
    path = meta.root / EPISODES_JSONL
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LeRobotFormatError(f"{path}: not found (expected the v2.x episode table)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LeRobotFormatError(f"{path}: cannot read ({type(error).__name__})") from None
    episodes: list[Episode] = []
    skipped: list[SkippedClip] = []
    video_keys = [key for key in meta.visual_keys() if meta.is_video(key)]
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"expected a JSON object, got {type(record).__name__}")
            index = _index(record.get("episode_index"), "episode_index")
            chunk = index // meta.chunks_size
            videos = {
                key: VideoSpan(meta.video_file(episode_chunk=chunk, episode_index=index, video_key=key), 0.0)
                for key in video_keys
            }
            episodes.append(
                Episode(
                    index=index,
                    tasks=_tasks(record.get("tasks")),
                    length=_optional_index(record.get("length"), "length"),
                    data_path=meta.data_file(episode_chunk=chunk, episode_index=index),
                    videos=videos,
                )
            )
        except json.JSONDecodeError as error:
            skipped.append(_bad_row(path, number, f"{where}: invalid JSON ({error.msg})"))
        except ValueError as error:
            if isinstance(error, LeRobotFormatError):
                raise
            skipped.append(_bad_row(path, number, f"{where}: {error}"))
    return episodes, skipped


def _read_v3(meta: DatasetMeta) -> tuple[list[Episode], list[SkippedClip]]:
    folder = meta.root / EPISODES_DIR
    files = sorted(folder.glob("chunk-*/file-*.parquet"))
    if not files:
        raise LeRobotFormatError(f"{folder}: no chunk-*/file-*.parquet (expected the v3.x episode table)")
    video_keys = [key for key in meta.visual_keys() if meta.is_video(key)]
    episodes: list[Episode] = []
    skipped: list[SkippedClip] = []
    for path in files:
        try:
            columns = column_names(path)
            span_columns = [f"videos/{key}/{name}" for key in video_keys for name in _SPAN_FIELDS]
            table = read_columns(
                path,
                ["episode_index", "data/chunk_index", "data/file_index"],
                optional=["tasks", "length", *[c for c in span_columns if c in columns]],
            )
        except ParquetUnreadable as error:
            item = safe_id(path.relative_to(meta.root).with_suffix("").as_posix())
            skipped.append(SkippedClip(item, str(path), "unreadable-parquet", f"{error} (its episodes are skipped)"))
            continue
        for row in range(len(table["episode_index"])):
            values = {name: column[row] for name, column in table.items()}
            try:
                episodes.append(_v3_episode(meta, values, video_keys))
            except ValueError as error:
                if isinstance(error, LeRobotFormatError):
                    raise
                skipped.append(_bad_row(path, row, f"{path}: row {row}: {error}", row_word="row"))
    return episodes, skipped


_SPAN_FIELDS = ("chunk_index", "file_index", "from_timestamp", "to_timestamp")


def _v3_episode(meta: DatasetMeta, values: dict[str, Any], video_keys: list[str]) -> Episode:
    index = _index(values["episode_index"], "episode_index")
    data_path = meta.data_file(
        chunk_index=_index(values["data/chunk_index"], "data/chunk_index"),
        file_index=_index(values["data/file_index"], "data/file_index"),
    )
    videos: dict[str, VideoSpan] = {}
    for key in video_keys:
        prefix = f"videos/{key}/"
        if values.get(prefix + "chunk_index") is None:
            continue  # this camera has no video for the episode: reported when the camera is asked for
        start = _seconds(values.get(prefix + "from_timestamp"), prefix + "from_timestamp")
        end = values.get(prefix + "to_timestamp")
        end = None if end is None else _seconds(end, prefix + "to_timestamp")
        if end is not None and end <= start:
            raise ValueError(f"field '{prefix}to_timestamp': expected > from_timestamp ({start:g}), got {end!r}")
        path = meta.video_file(
            video_key=key,
            chunk_index=_index(values[prefix + "chunk_index"], prefix + "chunk_index"),
            file_index=_index(values.get(prefix + "file_index"), prefix + "file_index"),
        )
        videos[key] = VideoSpan(path, start, end)
    return Episode(
        index=index,
        tasks=_tasks(values.get("tasks")),
        length=_optional_index(values.get("length"), "length"),
        data_path=data_path,
        videos=videos,
    )


def _bad_row(path: Path, number: int, detail: str, *, row_word: str = "line") -> SkippedClip:
    item = safe_id(f"{path.stem}-{row_word}{number}")
    return SkippedClip(item, str(path), "bad-episode-row", detail)


def _index(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"field '{name}': expected an integer >= 0, got {value!r}")
    return value


def _optional_index(value: Any, name: str) -> int | None:
    return None if value is None else _index(value, name)


def _seconds(value: Any, name: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    if not ok:
        raise ValueError(f"field '{name}': expected a time >= 0 in seconds, got {value!r}")
    return float(value)


def _tasks(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(task, str) for task in value):
        raise ValueError(f"field 'tasks': expected a list of strings, got {value!r}")
    return tuple(" ".join(task.split()) for task in value if task.strip())
