"""A LeRobot depth feature (``is_depth_map``) as the recorded depth of an RGB camera's clip.

The quantization LeRobot used is read from the depth feature's ``info`` (``video.depth_min``,
``video.depth_max``, ``video.shift``, ``video.use_log``, in metres); when the dataset does not record them,
LeRobot's own defaults apply, as in its reader, and the sample's metadata says so. LeRobot 0.6 also records
the unit the camera gave (``depth_unit``, "m" or "mm"; features named ``observation.depth.<camera>``): it is
checked and kept in the sample's metadata, and does not change the metres decoded (see DepthVideo).
"""

from __future__ import annotations

import math
from typing import Any

from ...depth.depth_video import (
    DEFAULT_DEPTH_MAX,
    DEFAULT_DEPTH_MIN,
    DEFAULT_SHIFT,
    DEFAULT_USE_LOG,
    DepthVideo,
)
from .episodes import VideoSpan
from .meta import DatasetMeta, LeRobotFormatError, feature_info

# LeRobot 0.6's ``depth_unit`` values (metres, millimetres); depth_min, depth_max and shift are metres either way.
DEPTH_UNITS = ("m", "mm")
_PARAMETERS = {
    "depth_min": DEFAULT_DEPTH_MIN,
    "depth_max": DEFAULT_DEPTH_MAX,
    "shift": DEFAULT_SHIFT,
}


def depth_video(meta: DatasetMeta, key: str, depth: VideoSpan, rgb: VideoSpan) -> DepthVideo:
    """The depth stream ``key`` of one episode, aligned to the episode's RGB video span ``rgb``."""
    info = feature_info(meta.features[key])
    where = f"{meta.root / 'meta/info.json'}: features.{key}.info"
    values: dict[str, Any] = {}
    recorded = True
    for name, default in _PARAMETERS.items():
        value = info.get(f"video.{name}")
        if value is None:
            recorded, value = False, default
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise LeRobotFormatError(f"{where}: field 'video.{name}': expected a number in metres, got {value!r}")
        values[name] = float(value)
    unit = info.get("depth_unit")
    if unit is not None and unit not in DEPTH_UNITS:
        raise LeRobotFormatError(f"{where}: field 'depth_unit': expected one of {list(DEPTH_UNITS)}, got {unit!r}")
    use_log = info.get("video.use_log")
    if use_log is None:
        recorded, use_log = False, DEFAULT_USE_LOG
    elif not isinstance(use_log, bool):
        raise LeRobotFormatError(f"{where}: field 'video.use_log': expected true or false, got {use_log!r}")
    try:
        return DepthVideo(
            path=str(depth.path),
            stream=key,
            time_offset_seconds=depth.from_timestamp - rgb.from_timestamp,
            frame_interval_seconds=1.0 / meta.fps,
            use_log=use_log,
            parameters_recorded=recorded,
            recorded_unit=unit,
            **values,
        )
    except ValueError as error:
        raise LeRobotFormatError(f"{where}: {error}") from None
