"""What to extract: the ``--episodes`` spec, the cameras, and which depth stream belongs to which camera."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .meta import DatasetMeta, LeRobotFormatError

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
# Name parts that say what a stream holds rather than which camera it is: "observation.images.top_depth" and
# "observation.images.top" (or "observation.depth.top") are the same camera.
_KIND_WORDS = {"depth", "rgb", "color", "colour", "image", "images", "video", "videos", "map"}


def parse_episode_spec(spec: str) -> list[int]:
    """``"0-9,12"`` -> [0, 1, ..., 9, 12] (sorted, unique; ranges inclusive, as LeRobot's CLI counts)."""
    episodes: set[int] = set()
    for part in spec.split(","):
        match = _RANGE.match(part.strip())
        if match is None:
            raise ValueError(f"--episodes: expected episode indices and ranges like '0-9,12', got {spec!r}")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ValueError(f"--episodes: range {part.strip()!r} ends before it starts")
        episodes.update(range(first, last + 1))
    return sorted(episodes)


@dataclass(frozen=True)
class Camera:
    key: str
    depth_key: str | None  # the depth video recorded with this camera, if any


def select_cameras(
    meta: DatasetMeta, *, cameras: Iterable[str] | None = None, depth_keys: Mapping[str, str] | None = None
) -> list[Camera]:
    """The cameras to extract (all RGB video/image features by default), each with its depth stream.

    A depth stream pairs with the camera whose name is the same once words such as "depth", "rgb" or
    "images" are dropped, or with the only camera when there is one; ``depth_keys`` (camera -> depth
    key) sets pairs explicitly. Raises ValueError (one line) for an unknown or depth key given as camera.
    """
    shown = f"{meta.root / 'meta/info.json'}"
    available = meta.camera_keys()
    depth_available = meta.depth_keys()
    if cameras is None:
        chosen = list(available)
    else:
        chosen = list(dict.fromkeys(cameras))
        for key in chosen:
            if key in depth_available:
                raise ValueError(
                    f"--camera {key}: {shown} marks it as a depth map (is_depth_map); it is read as the depth of "
                    f"an RGB camera, not extracted as one (cameras: {', '.join(available) or 'none'})"
                )
            if key not in available:
                raise ValueError(
                    f"--camera {key}: not a video or image feature in {shown} "
                    f"(expected one of: {', '.join(available) or 'none'})"
                )
    if not chosen:
        raise LeRobotFormatError(f"{shown}: field 'features': no video or image feature to extract")
    pairs = dict(_automatic_pairs(meta, available, depth_available))
    for camera, depth in (depth_keys or {}).items():
        if camera not in available:
            raise ValueError(
                f"--depth-key {camera}={depth}: {camera} is not a camera (expected one of: {', '.join(available)})"
            )
        if depth not in depth_available or not meta.is_video(depth):
            raise ValueError(
                f"--depth-key {camera}={depth}: {depth} is not a depth video in {shown} "
                f"(depth videos: {', '.join(k for k in depth_available if meta.is_video(k)) or 'none'})"
            )
        pairs[camera] = depth
    return [Camera(key, pairs.get(key)) for key in chosen]


def _automatic_pairs(meta: DatasetMeta, cameras: list[str], depths: list[str]) -> Iterable[tuple[str, str]]:
    videos = [key for key in depths if meta.is_video(key)]  # depth images (per-frame TIFF) are not read
    for depth in videos:
        matches = [camera for camera in cameras if _camera_name(camera) == _camera_name(depth)]
        if len(matches) == 1:
            yield matches[0], depth
        elif not matches and len(cameras) == 1 and len(videos) == 1:
            yield cameras[0], depth


def _camera_name(key: str) -> tuple[str, ...]:
    return tuple(part for part in re.split(r"[._\-/]+", key.lower()) if part and part not in _KIND_WORDS)
