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


def validate_inputs(frames: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tracker interface's inputs as arrays, or a ValueError saying what was expected."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames: expected (T >= 1, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != 2:
        raise ValueError(f"queries: expected (N, 2) pixel coordinates (u, v), got shape {queries.shape}")
    return frames, queries
