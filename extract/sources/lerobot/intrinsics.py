"""Camera intrinsics stored in a LeRobot dataset, when a port stores them.

LeRobot's format has no intrinsics field; ports that keep them put them in the camera feature's ``info`` in
``meta/info.json``. Read from ``info["intrinsics"]``, ``info["camera.intrinsics"]`` or
``info["camera_intrinsics"]`` as a 3x3 matrix, 9 numbers row by row, ``[fx, fy, cx, cy]`` or
``{"fx", "fy", "cx", "cy"}``, in pixels of the stored video (``video.width`` x ``video.height``). Without them
extraction needs an explicit ``assume_fovy_degrees`` (never assumed silently).
"""

from __future__ import annotations

import math
from typing import Any

from ..fields import FieldError, intrinsics_field
from .meta import DatasetMeta, LeRobotFormatError, feature_info

INTRINSICS_KEYS = ("intrinsics", "camera.intrinsics", "camera_intrinsics")

Matrix = tuple[tuple[float, float, float], ...]


def camera_intrinsics(meta: DatasetMeta, key: str) -> Matrix | None:
    """The 3x3 matrix of camera ``key`` at its video's resolution, or None when the dataset has none."""
    info = feature_info(meta.features[key])
    found = [name for name in INTRINSICS_KEYS if info.get(name) is not None]
    if not found:
        return None
    name = found[0]
    where = f"{meta.root / 'meta/info.json'}: features.{key}.info"
    try:
        matrix = intrinsics_field({name: _as_matrix(info[name])}, name)
    except (FieldError, ValueError, TypeError) as error:
        raise LeRobotFormatError(f"{where}: {error} (or 9 numbers, [fx, fy, cx, cy], or {{fx, fy, cx, cy}})") from None
    width, height = info.get("video.width"), info.get("video.height")
    if isinstance(width, int) and isinstance(height, int):
        cx, cy = matrix[0][2], matrix[1][2]
        if not (0 < cx < width and 0 < cy < height):
            raise LeRobotFormatError(
                f"{where}: field '{name}': principal point ({cx:g}, {cy:g}) is outside the {width}x{height} video "
                "(expected pixels of the stored video)"
            )
    return matrix


def _as_matrix(value: Any) -> Any:
    if isinstance(value, dict):
        fx, fy, cx, cy = (value.get(name) for name in ("fx", "fy", "cx", "cy"))
        return [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]
    if isinstance(value, list) and all(_number(x) for x in value):
        if len(value) == 4:
            fx, fy, cx, cy = value
            return [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]
        if len(value) == 9:
            return [value[0:3], value[3:6], value[6:9]]
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
