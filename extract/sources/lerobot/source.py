"""A local LeRobot dataset (v2.x or v3.x layout) -> clips: one per (episode, camera), or per task segment.

Each clip is a time span of a camera's video: in v2.x the episode's own mp4, in v3.x the episode's span
inside an mp4 shared with other episodes, from ``from_timestamp`` on. Its frames are the episode's frames
as LeRobot's reader finds them: the data parquet's ``timestamp`` of each frame plus the span's
``from_timestamp``. The clip starts 1 ms before the first frame and ends half a frame after the last, so
timestamp rounding never adds or drops a frame. The pipeline decodes that span by presentation timestamp,
seeking to the keyframe before it rather than decoding the shared file from its start. A sample's
``timestamps`` are seconds from the clip's first frame: episode frame = ``episode_frames[0] + round(t * fps)``
(both in the sample's ``extras.lerobot``).

Ids: ``episode_000003-observation_images_top`` (camera key with dots as underscores; ``-seg02`` appended
when the episode is split by task). ``video_id`` is ``<dataset folder>/episode_000003`` for every camera
of the episode, so two views of the same moment are never each other's negatives in the temporal loss.
Instruction: the task string (see :mod:`.segments`); embodiment ``robot``; intrinsics from the dataset
when present (:mod:`.intrinsics`); a paired depth video (:mod:`.depth`) as the clip's recorded depth.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...clips import ClipSpec, SkippedClip, safe_id
from ...frame_check import EXPECTED_FRAMES_KEY, expected_frames
from ..ordering import ordered
from .depth import depth_video
from .episodes import Episode, VideoSpan, episode_id, read_episodes
from .frames import EpisodeFrames, FrameTables
from .images import ImageVideos
from .intrinsics import camera_intrinsics
from .meta import DatasetMeta, read_meta
from .parquet import ParquetUnreadable
from .segments import NoInstruction, Segment, task_segments
from .selection import Camera, parse_episode_spec, select_cameras
from .tasks import read_subtasks, read_tasks

SOURCE = "lerobot"
EMBODIMENT = "robot"
# A frame may sit this much before its nominal time (timestamps rounded to the container's time base, float
# sums of durations) and still be the episode's first frame; LeRobot's own reader tolerates 0.1 ms. Small, so
# the samples' timestamps (seconds from the clip's start) are the episode's within 1 ms.
START_SLACK_SECONDS = 1e-3
# Camera keys naming a camera that moves with the robot (LeRobot's cameras are fixed or on the wrist); the
# others are fixed, so their clips skip camera-motion estimation (ClipSpec.extras["camera_fixed"]).
MOVING_CAMERA_WORDS = frozenset({"wrist", "hand", "gripper", "eef", "head"})


def iter_lerobot_clips(
    root: str | os.PathLike[str],
    *,
    cameras: Sequence[str] | None = None,
    episodes: str | Iterable[int] | None = None,
    depth_keys: Mapping[str, str] | None = None,
    image_cache: str | os.PathLike[str] | None = None,
    intrinsics_required: bool = False,
    moving_cameras: Sequence[str] | None = None,
) -> Iterator[ClipSpec | SkippedClip]:
    """Clips of the dataset at ``root``: skipped items first (unreadable files, missing videos, episodes
    without an instruction), then clips sorted by id.

    ``cameras``: feature keys (default: every RGB video/image feature). ``episodes``: a spec such as
    ``"0-9,12"`` or indices (default: all). ``depth_keys``: camera -> depth feature, overriding the automatic
    pairing. ``image_cache``: folder where image features (frames stored as PNG in the parquet) are written
    as lossless videos once, so the pipeline can decode them like any camera; required only for them.
    ``intrinsics_required``: refuse cameras without intrinsics in the dataset (set when no
    ``assume_fovy_degrees`` is configured, so a run does not skip every clip one by one).
    ``moving_cameras``: camera keys that move, or ``["all"]`` (a mobile robot); the others are fixed (default:
    the keys with a word of ``MOVING_CAMERA_WORDS`` such as "wrist" move). Fixed cameras' clips say so
    (``extras["camera_fixed"]``), and their camera motion is not estimated.
    Raises LeRobotFormatError / ValueError (one line) for a dataset or selection that cannot be read at all.
    """
    meta = read_meta(root)
    tasks = read_tasks(meta)
    subtasks = read_subtasks(meta)
    table, skipped = read_episodes(meta)
    chosen = select_cameras(meta, cameras=cameras, depth_keys=depth_keys)
    selected = _select_episodes(meta, table, episodes, partial=any(s.reason == "unreadable-parquet" for s in skipped))
    intrinsics = {camera.key: camera_intrinsics(meta, camera.key) for camera in chosen}
    lacking = [key for key, matrix in intrinsics.items() if matrix is None]
    if intrinsics_required and lacking:
        raise ValueError(
            f"{meta.root / 'meta/info.json'}: no intrinsics for camera(s) {', '.join(lacking)}; set "
            "assume_fovy_degrees=<vertical field of view in degrees> explicitly, or add them to the feature's "
            "info as 'intrinsics' ([fx, fy, cx, cy] or 3x3, in pixels of the video)"
        )
    images = None
    if any(not meta.is_video(camera.key) for camera in chosen):
        if image_cache is None:
            raise ValueError(
                f"{meta.root}: camera(s) {', '.join(c.key for c in chosen if not meta.is_video(c.key))} are image "
                "features; give image_cache, a folder for their frames as lossless videos"
            )
        images = ImageVideos(meta, Path(image_cache))
    if moving_cameras is None:
        fixed = {camera.key for camera in chosen if is_fixed_camera(camera.key)}
    else:
        unknown = sorted(set(moving_cameras) - {camera.key for camera in chosen} - {"all"})
        if unknown:
            raise ValueError(
                f"--moving-camera {unknown[0]}: not a camera being extracted (cameras: "
                f"{', '.join(camera.key for camera in chosen)}, or 'all')"
            )
        fixed = set() if "all" in moving_cameras else {c.key for c in chosen} - set(moving_cameras)
    lister = _EpisodeLister(
        meta, tasks, subtasks, chosen, camera_names([c.key for c in chosen]), intrinsics, images, fixed
    )
    clips: list[ClipSpec] = []
    for episode in selected:
        lister.add(episode, clips, skipped)
    yield from ordered(clips, skipped)


@dataclass
class _EpisodeLister:
    """Turns one episode into its clips (per camera, per task segment) or counted skips."""

    meta: DatasetMeta
    tasks: dict[int, str]
    subtasks: dict[int, str]
    cameras: list[Camera]
    names: dict[str, str]  # camera key -> id part
    intrinsics: dict[str, Any]
    images: ImageVideos | None
    fixed: set[str]  # camera keys that do not move
    tables: FrameTables = field(default_factory=FrameTables)

    def add(self, episode: Episode, clips: list[ClipSpec], skipped: list[SkippedClip]) -> None:
        base = episode_id(episode.index)
        try:
            frames = self.tables.episode(episode.data_path, episode.index)
            segments = task_segments(episode, frames, self.tasks, self.subtasks)
        except (ParquetUnreadable, NoInstruction) as error:
            reason = "unreadable-parquet" if isinstance(error, ParquetUnreadable) else "no-instruction"
            for camera in self.cameras:
                item = f"{base}-{self.names[camera.key]}"
                skipped.append(SkippedClip(item, str(episode.data_path), reason, f"{error} (camera {camera.key})"))
            return
        for camera in self.cameras:
            item = f"{base}-{self.names[camera.key]}"
            span = self._span(episode, camera, frames, item, skipped)
            if span is None:
                continue
            for number, segment in enumerate(segments, start=1):
                clip_id = item if len(segments) == 1 else f"{item}-seg{number:02d}"
                clip = _clip(self.meta, episode, camera, span, frames, segment, clip_id, self.intrinsics)
                clip.extras["camera_fixed"] = camera.key in self.fixed
                clips.append(clip)

    def _span(
        self, episode: Episode, camera: Camera, frames: EpisodeFrames, item: str, skipped: list[SkippedClip]
    ) -> VideoSpan | None:
        """Where the camera's frames of the episode are, or None after recording why they cannot be read."""
        if self.meta.is_video(camera.key):
            span = episode.videos.get(camera.key)
            problem = _missing_video(self.meta, episode, camera.key, span)
            if problem is None:
                return span
            path = str(span.path) if span is not None else str(self.meta.root)
            skipped.append(SkippedClip(item, path, "missing-video", problem))
            return None
        assert self.images is not None
        try:
            return self.images.video(episode, camera.key, frames)
        except ParquetUnreadable as error:
            skipped.append(SkippedClip(item, str(episode.data_path), "unreadable-images", str(error)))
            return None


def is_fixed_camera(key: str) -> bool:
    """A camera key without a word naming a moving mount ("wrist", "gripper", ...)."""
    return not any(part in MOVING_CAMERA_WORDS for part in re.split(r"[._\-/]+", key.lower()))


def camera_names(keys: Sequence[str]) -> dict[str, str]:
    """Key-safe, readable camera names for ids: dots become underscores (``observation_images_top``)."""
    names = {key: safe_id(key.replace(".", "_")) for key in keys}
    if len(set(names.values())) < len(names):  # "a.b" and "a_b": the hashed form keeps them apart
        names = {key: safe_id(key) for key in keys}
    return names


def _select_episodes(
    meta: DatasetMeta, table: list[Episode], episodes: str | Iterable[int] | None, *, partial: bool
) -> list[Episode]:
    if episodes is None:
        return table
    wanted = parse_episode_spec(episodes) if isinstance(episodes, str) else sorted({int(e) for e in episodes})
    by_index = {episode.index: episode for episode in table}
    absent = [index for index in wanted if index not in by_index]
    if absent and not partial:  # with an unreadable episodes file, its episodes are already counted skips
        shown = ", ".join(map(str, absent[:10])) + (f" ... ({len(absent)} in all)" if len(absent) > 10 else "")
        have = f"{table[0].index}..{table[-1].index}" if table else "none"
        raise ValueError(
            f"--episodes: episode(s) {shown} not in {meta.root} (its episodes: {have}, {len(table)} in all)"
        )
    return [by_index[index] for index in wanted if index in by_index]


def _missing_video(meta: DatasetMeta, episode: Episode, key: str, span: VideoSpan | None) -> str | None:
    if span is None:
        return (
            f"{meta.root}: episode {episode.index} has no videos/{key}/ entry in the episode table "
            f"(camera {key}; expected its chunk_index, file_index and from_timestamp)"
        )
    if not span.path.is_file():
        return f"{span.path}: video not found (camera {key}, episode {episode.index})"
    return None


def _clip(
    meta: DatasetMeta,
    episode: Episode,
    camera: Camera,
    span: VideoSpan,
    frames: EpisodeFrames,
    segment: Segment,
    clip_id: str,
    intrinsics: Mapping[str, Any],
) -> ClipSpec:
    start = max(0.0, span.from_timestamp + float(frames.timestamps[segment.first]) - START_SLACK_SECONDS)
    end = span.from_timestamp + float(frames.timestamps[segment.last]) + 0.5 / meta.fps
    extras: dict[str, Any] = {
        "lerobot": {
            "dataset": meta.name,
            "codebase_version": meta.codebase_version,
            "episode_index": episode.index,
            "camera": camera.key,
            "task_index": segment.task_index,
            "episode_frames": [segment.first, segment.last],
            "from_timestamp": span.from_timestamp,
            "fps": meta.fps,
            "robot_type": meta.robot_type,
            "instruction_source": segment.source,
        }
    }
    if segment.source != "task":
        extras["lerobot"]["task"] = segment.task
    times = span.from_timestamp + frames.timestamps[segment.first : segment.last + 1]
    extras[EXPECTED_FRAMES_KEY] = expected_frames(
        times,
        interval=1.0 / meta.fps,
        tolerance=0.5 / meta.fps,
        what=f"episode {episode.index} (camera {camera.key}, frames {segment.first}..{segment.last})",
    )
    depth_path = None
    if camera.depth_key is not None:
        depth_span = episode.videos.get(camera.depth_key)
        if depth_span is not None:
            extras["depth_video"] = depth_video(meta, camera.depth_key, depth_span, span).to_extra()
            depth_path = str(depth_span.path)
    return ClipSpec(
        clip_id=clip_id,
        source=SOURCE,
        video_id=f"{meta.name}/{episode_id(episode.index)}",
        video_path=str(span.path),
        instruction=segment.instruction,
        embodiment=EMBODIMENT,
        start_seconds=start,
        end_seconds=end,
        intrinsics=intrinsics[camera.key],
        depth_path=depth_path,
        extras=extras,
    )
