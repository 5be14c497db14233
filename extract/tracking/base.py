"""The 2D point-tracking interface. A backend tracks query points given on the first frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class TrackResult:
    tracks: np.ndarray  # (T, N, 2) float32 pixel coordinates (u, v); frame 0 equals the queries
    visibility: np.ndarray  # (T, N) bool; all True at frame 0


class PointTracker(Protocol):
    name: str
    version: str

    def track(self, frames: np.ndarray, queries: np.ndarray) -> TrackResult:
        """Track ``queries`` (N, 2) float32, given on ``frames[0]``, through ``frames`` (T, H, W, 3) uint8 RGB."""
        ...
