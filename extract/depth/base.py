"""The depth interface. A backend gives a depth map for each requested frame of a clip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

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
        """Depth for ``frames`` (T, H, W, 3) uint8, which are video frames ``frame_indices`` (T,) of ``clip``.

        The frames may have been resized from the video's native resolution; the result must match them.
        Raises :class:`DepthUnavailable` (with file, field and expectation in the message) when it cannot.
        """
        ...


class DepthUnavailable(RuntimeError):
    """This clip has no usable depth from this backend (missing file, wrong shape, ...)."""
