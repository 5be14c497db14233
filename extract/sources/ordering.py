"""The order every source yields in: skipped items as found, then clips sorted by id, duplicates skipped."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..clips import ClipSpec, SkippedClip


def ordered(clips: Iterable[ClipSpec], skipped: Iterable[SkippedClip]) -> Iterator[ClipSpec | SkippedClip]:
    """Skipped items in discovery order, then clips sorted by ``clip_id`` (determinism: sample keys and seeds
    derive from the id). A second clip with an id already taken is skipped as "duplicate-clip-id" rather
    than failing the run; the tie is broken by (video path, bounds) so the same one wins every run."""
    yield from skipped
    kept: list[ClipSpec] = []
    for clip in sorted(clips, key=_sort_key):
        if kept and kept[-1].clip_id == clip.clip_id:
            first = kept[-1]
            yield SkippedClip(
                clip_id=clip.clip_id,
                path=clip.video_path,
                reason="duplicate-clip-id",
                detail=f"{clip.video_path}: clip_id '{clip.clip_id}' is already used by a clip of {first.video_path}"
                f" ({_bounds(first)}); this one ({_bounds(clip)}) is skipped",
            )
            continue
        kept.append(clip)
    yield from kept


def _sort_key(clip: ClipSpec) -> tuple:
    start = -1.0 if clip.start_seconds is None else clip.start_seconds
    end = float("inf") if clip.end_seconds is None else clip.end_seconds
    return clip.clip_id, clip.video_path, start, end, clip.instruction


def _bounds(clip: ClipSpec) -> str:
    start = "start" if clip.start_seconds is None else f"{clip.start_seconds:g} s"
    end = "end" if clip.end_seconds is None else f"{clip.end_seconds:g} s"
    return f"{start} to {end}"
