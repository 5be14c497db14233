"""The depth interface. A backend gives a depth map for each requested frame of a clip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dynaflip.errors import DynaflipError

from ..clips import ClipSpec


@dataclass
class DepthResult:
    depth: np.ndarray  # (T, H, W) float32 z-depth at the frames' resolution; 0 or NaN where unknown
    kind: str  # "metric" | "relative" | "none"
    cam_to_world: np.ndarray | None = None  # (T, 4, 4) float64 OpenCV camera poses when known


class DepthBackend(Protocol):
    name: str
    version: str
    kind: str

    def depth(self, clip: ClipSpec, frames: np.ndarray, frame_indices: np.ndarray) -> DepthResult:
        """Depth for ``frames`` (T, H, W, 3) uint8, which are video frames ``frame_indices`` (T,) of ``clip``
        (numbers in the video's frame index: its i-th decodable frame in presentation order).

        The frames may have been resized from the video's native resolution; the result must match them.
        Raises :class:`DepthUnavailable` (with file, field and expectation in the message) when it cannot;
        the pipeline then skips the whole clip, counted once.

        A backend may also define ``check_clip(clip, *, num_frames, width, height)``, called once per clip
        before decoding with the video's decodable frame count and native size, raising
        :class:`DepthUnavailable` for problems of the whole clip (no depth file, too few maps, another aspect
        ratio).
        """
        ...


class DepthUnavailable(DynaflipError, RuntimeError):
    """This clip has no usable depth from this backend (missing file, wrong shape, ...)."""
