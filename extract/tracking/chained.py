"""The frame loop shared by the trackers that chain one step at a time (``opencv-lk``, ``opencv-dis``).

A subclass moves the points still alive from one kept frame to the next (``_step``); this loop does the rest:
every ``track_stride``-th frame (and always the last one) is tracked, positions on the frames in between are
interpolated linearly, a point lost once stays lost at its last good position, and when more than
``max_step_loss`` of the points still tracked are lost in one step (and there are enough of them for a share
to mean something) every point is lost there, as at a shot cut.
"""

from __future__ import annotations

import abc
import itertools

import cv2
import numpy as np

from .base import TrackResult, validate_inputs

# The shot-cut rule needs enough points to be a share rather than noise.
MIN_POINTS_FOR_CUT = 20


class ChainedTracker(abc.ABC):
    """Base of the step-chaining trackers; subclasses set ``track_stride`` and implement ``_step``."""

    max_step_loss: float = 1.0  # 1: never treat a step as a cut

    def __init__(self, *, track_stride: int = 1) -> None:
        if track_stride < 1:
            raise ValueError(f"track_stride: expected >= 1, got {track_stride}")
        self.track_stride = int(track_stride)

    def settings_version(self, **settings: object) -> str:
        """The tracker's version: OpenCV's and every setting that changes the tracks, so shards record exactly what
        made them (floats written with ``:g``, the stride last)."""
        shown = {**settings, "stride": self.track_stride}
        text = ";".join(
            f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}" for key, value in shown.items()
        )
        return f"1;cv2={cv2.__version__};{text}"

    def track(self, frames: np.ndarray, queries: np.ndarray) -> TrackResult:
        """Track ``queries`` (N, 2) (u, v), given on ``frames[0]``, through ``frames`` (T, H, W, 3) uint8 RGB."""
        frames, queries = validate_inputs(frames, queries)
        num_frames, height, width = frames.shape[:3]
        tracks = np.empty((num_frames, len(queries), 2), dtype=np.float32)
        visibility = np.zeros((num_frames, len(queries)), dtype=bool)
        tracks[0], visibility[0] = queries, True

        keyframes = list(range(0, num_frames, self.track_stride))
        if keyframes[-1] != num_frames - 1:
            keyframes.append(num_frames - 1)
        position = queries.copy()
        alive = np.ones(len(queries), dtype=bool)
        previous = gray(frames[0])
        for start, end in itertools.pairwise(keyframes):
            if not alive.any():
                # Everything is lost: the rest is last positions, invisible; no more tracking work to do.
                tracks[start + 1 :] = position
                break
            current = gray(frames[end])
            before = position.copy()
            active = np.flatnonzero(alive)
            moved, ok = self._step(previous, current, position[active], width=width, height=height)
            if len(active) >= MIN_POINTS_FOR_CUT and (~ok).mean() > self.max_step_loss:
                ok[:] = False  # the view changed as a whole: what still "tracks" across it is chance
            position[active[ok]] = moved[ok]
            alive[active[~ok]] = False
            # Frames inside a stride: linear interpolation for survivors; lost points stay where they were.
            for frame in range(start + 1, end):
                weight = (frame - start) / (end - start)
                tracks[frame] = before + weight * (position - before)
                visibility[frame] = alive
            tracks[end], visibility[end] = position, alive  # exact, not re-derived from the interpolation
            previous = current
        return TrackResult(tracks=tracks, visibility=visibility)

    @abc.abstractmethod
    def _step(
        self, previous: np.ndarray, current: np.ndarray, points: np.ndarray, *, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Move ``points`` (M, 2) from gray ``previous`` to ``current``; returns new positions and which are good."""


def gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def inside_image(points: np.ndarray, *, width: int, height: int) -> np.ndarray:
    """Which ``points`` (M, 2) lie on the image: pixel centres span [0, W-1] x [0, H-1]."""
    u, v = points[:, 0], points[:, 1]
    return (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
