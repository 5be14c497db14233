"""``meta/info.json`` of a LeRobot dataset: its format version, frame rate, features and path templates.

Two layouts exist on disk (LeRobot's ``CODEBASE_VERSION``):

- **v2.x** (v2.0, v2.1): one parquet and one mp4 per episode (and camera); ``data_path`` /
  ``video_path`` are formatted with ``episode_chunk`` (= episode_index // chunks_size), ``episode_index``
  and ``video_key``; episodes and tasks are listed in ``meta/episodes.jsonl`` / ``meta/tasks.jsonl``.
- **v3.x** (v3.0): many episodes per file; ``data_path`` / ``video_path`` are formatted with
  ``chunk_index``, ``file_index`` and ``video_key``; each episode's file indices and its time span inside the
  shared mp4 are rows of ``meta/episodes/chunk-*/file-*.parquet``; tasks are ``meta/tasks.parquet``.

Like LeRobot's ``check_version_compatibility``, a dataset is read by the layout of its major version; other
majors (v1.x, a future v4) are refused with a one-line error rather than misread.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynaflip.errors import DynaflipError

INFO_PATH = "meta/info.json"
SUPPORTED_MAJORS = {2: "v2.x (one file per episode)", 3: "v3.x (many episodes per file)"}
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")
VISUAL_DTYPES = ("video", "image")


class LeRobotFormatError(DynaflipError, ValueError):
    """The dataset as a whole cannot be read (missing or invalid metadata); the message is one line."""


@dataclass(frozen=True)
class DatasetMeta:
    root: Path
    codebase_version: str
    major: int
    fps: float
    features: dict[str, dict[str, Any]]
    data_path: str
    video_path: str | None
    chunks_size: int
    robot_type: str | None

    @property
    def name(self) -> str:
        """The dataset's folder name (ids and ``video_id`` use it, so two datasets never share an id)."""
        return self.root.resolve().name

    def visual_keys(self) -> list[str]:
        """Every ``video`` or ``image`` feature, in info.json order (cameras and depth streams)."""
        return [key for key, feature in self.features.items() if feature.get("dtype") in VISUAL_DTYPES]

    def depth_keys(self) -> list[str]:
        return [key for key in self.visual_keys() if is_depth_map(self.features[key])]

    def camera_keys(self) -> list[str]:
        """The RGB cameras: visual features that are not depth maps."""
        return [key for key in self.visual_keys() if not is_depth_map(self.features[key])]

    def is_video(self, key: str) -> bool:
        return self.features[key].get("dtype") == "video"

    def data_file(self, **values: Any) -> Path:
        """The data parquet named by the ``data_path`` template filled with ``values``."""
        return self.root / _fill(self.data_path, "data_path", self.root / INFO_PATH, values)

    def video_file(self, **values: Any) -> Path:
        """The mp4 named by the ``video_path`` template filled with ``values``."""
        return self.root / _fill(self.video_path or "", "video_path", self.root / INFO_PATH, values)


def is_depth_map(feature: dict[str, Any]) -> bool:
    """A depth stream, flagged as LeRobot does: ``info.is_depth_map``, or the older ``video.is_depth_map``
    in ``info`` or in a separate ``video_info`` dict."""
    info = feature.get("info") or {}
    video_info = feature.get("video_info")
    return bool(
        info.get("is_depth_map")
        or info.get("video.is_depth_map")
        or (isinstance(video_info, dict) and video_info.get("video.is_depth_map"))
    )


def feature_info(feature: dict[str, Any]) -> dict[str, Any]:
    """A feature's ``info`` merged over its legacy ``video_info`` (v2.0 kept the video keys there)."""
    merged = dict(feature.get("video_info") or {}) if isinstance(feature.get("video_info"), dict) else {}
    merged.update(feature.get("info") or {})
    return merged


def read_meta(root: str | Path) -> DatasetMeta:
    """Read and check ``ROOT/meta/info.json``; raises :class:`LeRobotFormatError` naming file and field."""
    root = Path(root)
    if not root.is_dir():
        raise LeRobotFormatError(f"{root}: dataset folder not found")
    path = root / INFO_PATH
    shown = str(path)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LeRobotFormatError(
            f"{shown}: not found (expected a LeRobot dataset folder with meta/info.json)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise LeRobotFormatError(f"{shown}: cannot read ({type(error).__name__})") from None
    except json.JSONDecodeError as error:
        raise LeRobotFormatError(f"{shown}:{error.lineno}: invalid JSON ({error.msg})") from None
    if not isinstance(info, dict):
        raise LeRobotFormatError(f"{shown}: expected a JSON object, got {type(info).__name__}")

    version = info.get("codebase_version")
    match = _VERSION.match(version) if isinstance(version, str) else None
    if match is None:
        raise LeRobotFormatError(f"{shown}: field 'codebase_version': expected 'vMAJOR.MINOR', got {version!r}")
    major = int(match.group(1))
    if major not in SUPPORTED_MAJORS:
        known = ", ".join(SUPPORTED_MAJORS.values())
        raise LeRobotFormatError(
            f"{shown}: field 'codebase_version': {version} is not a layout this reader knows (expected {known}); "
            "convert it with LeRobot first"
        )

    fps = info.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise LeRobotFormatError(f"{shown}: field 'fps': expected a number > 0, got {fps!r}")
    features = info.get("features")
    if not isinstance(features, dict) or not all(isinstance(f, dict) for f in features.values()):
        raise LeRobotFormatError(f"{shown}: field 'features': expected an object of feature objects")
    data_path = _template(info, "data_path", shown, required=True)
    video_path = _template(info, "video_path", shown, required=False)
    chunks_size = info.get("chunks_size", 1000)
    if isinstance(chunks_size, bool) or not isinstance(chunks_size, int) or chunks_size < 1:
        raise LeRobotFormatError(f"{shown}: field 'chunks_size': expected an integer >= 1, got {chunks_size!r}")
    robot_type = info.get("robot_type")
    meta = DatasetMeta(
        root=root,
        codebase_version=version,
        major=major,
        fps=float(fps),
        features=features,
        data_path=data_path or "",
        video_path=video_path,
        chunks_size=chunks_size,
        robot_type=robot_type if isinstance(robot_type, str) else None,
    )
    if any(meta.is_video(key) for key in meta.visual_keys()) and meta.video_path is None:
        raise LeRobotFormatError(f"{shown}: field 'video_path': expected a path template, the dataset has videos")
    return meta


def _template(info: dict[str, Any], name: str, shown: str, *, required: bool) -> str | None:
    value = info.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise LeRobotFormatError(f"{shown}: field '{name}': expected a path template string, got {value!r}")
    return value


def _fill(template: str, name: str, info_path: Path, values: dict[str, Any]) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as error:
        given = ", ".join(sorted(values))
        raise LeRobotFormatError(
            f"{info_path}: field '{name}': template {template!r} cannot be filled from {given} "
            f"({type(error).__name__}: {error})"
        ) from None
