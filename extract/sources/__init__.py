"""Source adapters: what users already have on disk -> a deterministic stream of ClipSpec / SkippedClip.

Every source yields its SkippedClip items (bad rows, missing files; counted by the pipeline, never fatal)
first, then its clips sorted by ``clip_id``. Only a problem with the whole input (a missing or unreadable
table, a wrong preset) raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..clips import ClipSpec, SkippedClip
from .ego4d import clean_ego4d_narration
from .fields import FieldError, parse_time
from .folder import bounded_id, iter_folder_clips
from .lerobot import iter_lerobot_clips
from .narrations import PRESETS, iter_narration_clips
from .ssv2 import fill_template, iter_ssv2_clips
from .table import Row, TableError, read_table
from .videos import VIDEO_EXTENSIONS, VideoFinder

SourceFunction = Callable[..., Iterator[ClipSpec | SkippedClip]]

SOURCES: dict[str, SourceFunction] = {
    "folder": iter_folder_clips,
    "ssv2": iter_ssv2_clips,
    "narrations": iter_narration_clips,
    "lerobot": iter_lerobot_clips,
}


def get_source(name: str) -> SourceFunction:
    """The source function registered as ``name``; the error lists the known names."""
    if name not in SOURCES:
        raise ValueError(f"source: expected one of {', '.join(SOURCES)}, got {name!r}")
    return SOURCES[name]


__all__ = [
    "PRESETS",
    "SOURCES",
    "VIDEO_EXTENSIONS",
    "FieldError",
    "Row",
    "SourceFunction",
    "TableError",
    "VideoFinder",
    "bounded_id",
    "clean_ego4d_narration",
    "fill_template",
    "get_source",
    "iter_folder_clips",
    "iter_lerobot_clips",
    "iter_narration_clips",
    "iter_ssv2_clips",
    "parse_time",
    "read_table",
]
