"""LeRobot datasets on local disk (v2.x and v3.x layouts) as an extraction source.

Modules, one concept each: :mod:`.meta` (info.json, version check), :mod:`.tasks`, :mod:`.episodes`,
:mod:`.frames` (data parquet frame tables), :mod:`.segments` (instructions), :mod:`.selection` (episodes,
cameras, depth pairing), :mod:`.intrinsics`, :mod:`.depth`, :mod:`.images`, and :mod:`.source`, which
turns them into clips.
"""

from __future__ import annotations

from .meta import LeRobotFormatError, read_meta
from .selection import parse_episode_spec
from .source import SOURCE, camera_names, iter_lerobot_clips

__all__ = ["SOURCE", "LeRobotFormatError", "camera_names", "iter_lerobot_clips", "parse_episode_spec", "read_meta"]
