"""Long videos cut into clips by a narration table: EPIC-Kitchens-100, Ego4D, or any table (``generic``).

A preset names, for each role, the columns that may hold it (the first one a row has wins):

- ``epic-kitchens-100``: the official annotation CSV (``narration_id``, ``participant_id``, ``video_id``,
  ``start_timestamp``/``stop_timestamp`` as ``HH:MM:SS.ff``, ``narration``, ``verb``, ``noun``, ...).
  Videos: ``videos_dir/{video_id}.MP4``, ``videos_dir/{participant_id}/videos/{video_id}.MP4`` (the download
  script's layout) or ``videos_dir/{participant_id}/{video_id}.MP4``; extensions match case-insensitively.
- ``ego4d``: a CSV/TSV/JSONL table with ``video_uid``, ``start_sec``, ``end_sec``, ``narration_text``
  (EgoClip's ``clip_start``/``clip_end``/``clip_text`` are accepted too), or point narrations
  (``timestamp_sec``), or the official ``narration.json``. Text is cleaned as described in ego4d.py.
- ``generic``: ``columns`` maps the roles ``video_id``, ``start``, ``stop`` and ``text`` (optionally ``id``
  and ``time``) to column names.

A point narration at ``t`` (a ``time`` column and no start/stop) becomes the clip ``[t - w, t + w]`` with
``w = half_window_seconds`` (default 1 s: a 2 s clip holds one 1 s sampling horizon with room to spare; the
EgoVLP windows average about 1 s in total), clamped at 0. Columns not used by a role go into ``extras``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clips import ClipSpec, SkippedClip, safe_id
from .ego4d import clean_ego4d_narration, ego4d_rows, is_ego4d_document
from .fields import FieldError, bounds_fields, is_missing, milliseconds, text_field, time_field
from .ordering import ordered
from .table import Row, TableError, json_items, load_json, read_table, table_format
from .videos import VIDEO_EXTENSIONS, VideoFinder, is_video

ROLES = ("video_id", "start", "stop", "text", "id", "time", "participant")
DEFAULT_HALF_WINDOW_SECONDS = 1.0


def _epic_folders(video_id: str, values: Mapping[str, Any], participant: str | None) -> tuple[str, ...]:
    # EPIC video ids are "P01_01": the participant is the part before the first underscore.
    person = participant or video_id.split("_")[0]
    return ("", f"{person}/videos", person)


def _flat(video_id: str, values: Mapping[str, Any], participant: str | None) -> tuple[str, ...]:
    return ("",)


def _as_is(text: str) -> str:
    return text


@dataclass(frozen=True)
class NarrationPreset:
    """Column candidates per role, where to look for a video, which extensions, how to clean the text."""

    columns: Mapping[str, tuple[str, ...]]
    extensions: tuple[str, ...] = VIDEO_EXTENSIONS
    folders: Callable[[str, Mapping[str, Any], str | None], tuple[str, ...]] = _flat
    clean: Callable[[str], str] = _as_is


PRESETS: dict[str, NarrationPreset] = {
    "epic-kitchens-100": NarrationPreset(
        columns={
            "video_id": ("video_id",),
            "start": ("start_timestamp",),
            "stop": ("stop_timestamp",),
            "text": ("narration",),
            "id": ("narration_id",),
            "participant": ("participant_id",),
        },
        extensions=(".mp4",),
        folders=_epic_folders,
    ),
    "ego4d": NarrationPreset(
        columns={
            "video_id": ("video_uid", "video_id"),
            "start": ("start_sec", "clip_start"),
            "stop": ("end_sec", "clip_end"),
            "text": ("narration_text", "clip_text"),
            "time": ("timestamp_sec", "narration_time"),
            "id": ("narration_id",),
        },
        extensions=(".mp4",),
        clean=clean_ego4d_narration,
    ),
    "generic": NarrationPreset(columns={}),
}


def iter_narration_clips(
    videos_dir: str | os.PathLike[str],
    table: str | os.PathLike[str],
    *,
    preset: str = "epic-kitchens-100",
    columns: Mapping[str, str] | None = None,
    video_extension: str | None = None,
    half_window_seconds: float = DEFAULT_HALF_WINDOW_SECONDS,
    source: str | None = None,
) -> Iterator[ClipSpec | SkippedClip]:
    """One human clip per narration row, skipped rows first, then clips sorted by ``clip_id``.

    ``columns`` (role -> column name) overrides the preset's columns; ``generic`` needs at least video_id,
    text, and start+stop or time. ``video_extension`` restricts the video lookup to one extension.
    clip_id: ``safe_id(id column)`` when the table has ids (EPIC ``narration_id``), else
    ``{safe_id(video_id)}-{start_ms}-{stop_ms}``. ``source`` defaults to the preset name.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    chosen = PRESETS[preset]
    mapping = {role: (name,) for role, name in (columns or {}).items()}
    unknown = sorted(set(mapping) - set(ROLES))
    if unknown:
        raise ValueError(f"columns: unknown roles {unknown}; expected some of {', '.join(ROLES)}")
    roles = {**chosen.columns, **mapping}
    if "video_id" not in roles or "text" not in roles or not ({"start", "stop"} <= set(roles) or "time" in roles):
        raise ValueError(f"columns: preset {preset!r} needs video_id, text and start+stop or time, got {columns}")
    if half_window_seconds <= 0:
        raise ValueError(f"half_window_seconds: expected > 0, got {half_window_seconds}")
    extensions = (video_extension,) if video_extension else chosen.extensions
    cutter = _Cutter(
        finder=VideoFinder(videos_dir, extensions=extensions),
        preset=chosen,
        roles=roles,
        half_window=half_window_seconds,
        source=source or preset,
        videos_dir=str(videos_dir),
    )
    clips: list[ClipSpec] = []
    skipped: list[SkippedClip] = []
    for index, row in enumerate(_rows(table, preset=preset)):
        if index == 0 and row.error is None and table_format(table) in ("csv", "tsv"):
            _check_header(row, roles, table=str(table), preset=preset)
        item = cutter.cut(row)
        (skipped if isinstance(item, SkippedClip) else clips).append(item)
    yield from ordered(clips, skipped)


def _rows(table: str | os.PathLike[str], *, preset: str) -> Iterator[Row]:
    if table_format(table) != "json":
        return read_table(table)
    document = load_json(table)
    if isinstance(document, list):
        return json_items(document, path=str(table))
    if preset != "ego4d" or not is_ego4d_document(document):
        raise TableError(f"{table}: a JSON object is read only as Ego4D narration.json (preset 'ego4d')")
    return ego4d_rows(document, path=str(table))


def _check_header(row: Row, roles: Mapping[str, tuple[str, ...]], *, table: str, preset: str) -> None:
    """A CSV's columns are the same for every row: a missing one is a wrong preset, not a bad row."""

    def has(role: str) -> bool:
        return any(name in row.values for name in roles.get(role, ()))

    timing = ("start", "stop") if has("start") or not has("time") else ()
    for role in ("video_id", "text", *timing):
        if not has(role):
            expected = ", ".join(roles.get(role, ())) or "none configured"
            raise TableError(
                f"{table}: no column for {role!r} (expected one of: {expected}); "
                f"columns are {', '.join(row.values)}; wrong preset ({preset!r}) or columns?"
            )


@dataclass
class _Cutter:
    finder: VideoFinder
    preset: NarrationPreset
    roles: Mapping[str, tuple[str, ...]]
    half_window: float
    source: str
    videos_dir: str

    def column(self, values: Mapping[str, Any], role: str) -> str:
        """The first of the role's columns this row has (the first candidate if none, for the error)."""
        names = self.roles.get(role, ())
        return next((name for name in names if name in values), names[0] if names else role)

    def cut(self, row: Row) -> ClipSpec | SkippedClip:
        fallback_id = safe_id(f"{Path(row.path).stem}-row{row.line}")
        if row.error is not None:
            return SkippedClip(fallback_id, row.path, "bad-row", f"{row.where}: {row.error}")
        values = row.values
        # ids and participants stay in extras too: the original spelling is worth keeping next to the safe id
        used = {
            self.column(values, role) for role in ("video_id", "start", "stop", "text", "time") if role in self.roles
        }
        try:
            name = _identifier(values, self.column(values, "video_id"), required=True) or ""
            # "clip.mp4" and "clip" name the same video: the extension is not part of its id
            video_id = str(Path(name).with_suffix("")) if is_video(name) else name
            explicit = _identifier(values, self.column(values, "id"), required=False) if "id" in self.roles else None
            fallback_id = safe_id(explicit) if explicit else fallback_id
            start, stop = self.bounds(values)
            participant = None
            if "participant" in self.roles:
                participant = _identifier(values, self.column(values, "participant"), required=False)
        except FieldError as error:
            return SkippedClip(fallback_id, row.path, "bad-row", f"{row.where}: {error}")
        clip_id = safe_id(explicit) if explicit else f"{safe_id(video_id)}-{milliseconds(start)}-{milliseconds(stop)}"
        text_column = self.column(values, "text")
        raw = values.get(text_column)
        written = " ".join(raw.split()) if isinstance(raw, str) else ""
        instruction = self.preset.clean(written) if written else ""
        if not instruction:
            detail = f"{row.where}: field '{text_column}': expected a non-empty narration, got {raw!r}"[:300]
            return SkippedClip(clip_id, row.path, "no-instruction", detail)
        video = self.finder.find(name, folders=self.preset.folders(video_id, values, participant))
        if video is None:
            wanted = "|".join(ext.lstrip(".") for ext in self.finder.extensions)
            detail = f"{row.where}: field '{self.column(values, 'video_id')}': no video {video_id}.<{wanted}>"
            return SkippedClip(clip_id, self.videos_dir, "missing-video", f"{detail} in {self.videos_dir}")
        extras = {key: value for key, value in values.items() if key not in used and not is_missing(value)}
        if instruction != written:
            extras["narration"] = written  # the annotation as written, before cleaning
        return ClipSpec(
            clip_id=clip_id,
            source=self.source,
            video_id=video_id,
            video_path=str(video),
            instruction=instruction,
            embodiment="human",
            start_seconds=start,
            end_seconds=stop,
            extras=extras,
        )

    def bounds(self, values: Mapping[str, Any]) -> tuple[float, float]:
        """(start, stop) from the start/stop columns, else a window around the time column."""
        has_range = "start" in self.roles and any(name in values for name in self.roles["start"])
        if has_range or "time" not in self.roles:
            start, stop = bounds_fields(
                values, self.column(values, "start"), self.column(values, "stop"), required=True
            )
            assert start is not None and stop is not None  # required=True
            return start, stop
        time = time_field(values, self.column(values, "time"), required=True)
        assert time is not None
        return max(0.0, time - self.half_window), time + self.half_window


def _identifier(values: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    """A string or integer identifier (JSON tables often store ids as numbers)."""
    value = values.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text_field(values, name, required=required)
