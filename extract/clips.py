"""What a source yields: clips of a video with an instruction and whatever geometry the source has."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from dynaflip.schema import EMBODIMENTS

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")


def safe_id(text: str, *, max_length: int = 96) -> str:
    """A key-safe identifier (letters, digits, '_' and '-'; no dots) that stays unique for distinct inputs:
    the readable part is truncated and, when anything was changed, a short hash of the original is added."""
    cleaned = _UNSAFE.sub("-", text).strip("-") or "clip"
    if cleaned == text and len(text) <= max_length:
        return text
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"{cleaned[: max_length - 9]}_{digest}"


@dataclass(frozen=True)
class ClipSpec:
    """One clip to extract.

    ``clip_id`` is stable and unique within a run (sample keys and random seeds derive from it).
    ``start_seconds``/``end_seconds`` bound the clip inside the video (None: from the start / to the end).
    ``intrinsics`` is the 3x3 pinhole matrix at the video's native resolution, when the source knows it.
    ``depth_path`` names a ``NAME.depth.npz`` (``depth`` float32 (T, H, W) metres, optional ``cam_to_world``
    (T, 4, 4)) aligned frame by frame with the video; ``state_path`` an optional ``NAME.state.npz`` of
    simulator state per frame.
    """

    clip_id: str
    source: str
    video_id: str
    video_path: str
    instruction: str
    embodiment: str
    start_seconds: float | None = None
    end_seconds: float | None = None
    intrinsics: tuple[tuple[float, float, float], ...] | None = None
    depth_path: str | None = None
    state_path: str | None = None
    extras: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if safe_id(self.clip_id) != self.clip_id:
            raise ValueError(f"clip_id: expected letters, digits, '_' or '-' only, got {self.clip_id!r}")
        if self.embodiment not in EMBODIMENTS:
            raise ValueError(f"{self.video_path}: embodiment: expected one of {EMBODIMENTS}, got {self.embodiment!r}")


@dataclass(frozen=True)
class SkippedClip:
    """A clip (or an annotation row) a source could not turn into a ClipSpec; counted, never fatal."""

    clip_id: str
    path: str
    reason: str  # short category, e.g. "bad-sidecar", "missing-video"
    detail: str  # one line: the file, the field and what was expected
