"""Chained dense optical flow: OpenCV DIS (dense inverse search) frame to frame, each point refined by a small
Lucas-Kanade window, with a forward-backward check.

Each step computes the dense flow from frame t to t+1 and back. A point starts where the forward flow
(sampled bilinearly at its position) puts it, and Lucas-Kanade with a ``refine_window`` px window refines that
to sub-pixel accuracy; the backward flow and a refinement bring it back, and the point is lost when the round
trip misses its start by more than ``fb_threshold`` pixels, when a refinement fails, or when it leaves the
image. As with the Lucas-Kanade tracker, a lost point stays lost and keeps its last good position. When more
than ``max_step_loss`` of the points still tracked are lost in one step, the view has changed as a whole (a shot
cut, the camera covered or whipped): every point is lost there, because the dense flow between two unrelated
images is smooth enough for a share of garbage tracks to pass the round trip (about a quarter, measured on a
generated cut between two textures).

Why: DIS finds the motion of every pixel coarse to fine, so fast motion and the motion of small, rotating or
deforming regions are captured without a per-point window that must span the motion; a large Lucas-Kanade
window, which fast motion would need, mixes in the background next to an object's edge and drifts onto it. The
dense flow alone is smooth across edges and drifts by pixels over a window; the small refinement window fixes
that. ``refine_window=0`` keeps the dense flow alone.
"""

from __future__ import annotations

import cv2
import numpy as np

from .chained import ChainedTracker, inside_image

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class DISFlowTracker(ChainedTracker):
    """``preset``: DIS's speed/accuracy preset; ``finest_scale`` overrides its finest pyramid level (0: full
    resolution; coarser is faster and was measured to keep fewer points on fast objects); ``refine_window`` /
    ``refine_levels``: the Lucas-Kanade refinement (0: none); ``max_step_loss``: the share of points lost in
    one step that counts as a cut (1: never); ``track_stride`` > 1 computes flow only between every
    ``track_stride``-th frame (positions in between interpolated linearly, as in the Lucas-Kanade tracker)."""

    name = "opencv-dis"

    def __init__(
        self,
        *,
        preset: str = "ultrafast",
        finest_scale: int | None = None,
        refine_window: int = 9,
        refine_levels: int = 1,
        fb_threshold: float = 2.0,
        max_step_loss: float = 0.5,
        track_stride: int = 1,
    ) -> None:
        if preset not in PRESETS:
            raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got {preset!r}")
        if finest_scale is not None and not 0 <= finest_scale <= 5:
            raise ValueError(
                f"finest_scale: expected 0-5 (pyramid levels below full resolution) or null, got {finest_scale}"
            )
        if refine_window != 0 and refine_window < 3:
            raise ValueError(f"refine_window: expected 0 (no refinement) or >= 3 pixels, got {refine_window}")
        if refine_levels < 0:
            raise ValueError(f"refine_levels: expected >= 0, got {refine_levels}")
        if not fb_threshold > 0:
            raise ValueError(f"fb_threshold: expected > 0 pixels, got {fb_threshold}")
        if not 0 < max_step_loss <= 1:
            raise ValueError(f"max_step_loss: expected a share in (0, 1], got {max_step_loss}")
        super().__init__(track_stride=track_stride)
        self.max_step_loss = float(max_step_loss)
        self.preset = preset
        self.refine_window = int(refine_window)
        self.refine_levels = int(refine_levels)
        self.fb_threshold = float(fb_threshold)
        self._flow = cv2.DISOpticalFlow_create(PRESETS[preset])
        self.finest_scale = self._flow.getFinestScale() if finest_scale is None else int(finest_scale)
        self._flow.setFinestScale(self.finest_scale)
        self.version = self.settings_version(
            preset=preset, finest_scale=self.finest_scale, refine=f"{self.refine_window}/{self.refine_levels}",
            fb=self.fb_threshold, max_step_loss=self.max_step_loss,
        )  # fmt: skip

    def _step(
        self, previous: np.ndarray, current: np.ndarray, points: np.ndarray, *, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Move ``points`` (M, 2) from ``previous`` to ``current``; returns new positions and which are good."""
        forward = self._flow.calc(previous, current, None)
        backward = self._flow.calc(current, previous, None)
        moved = self._refine(previous, current, points, points + sample(forward, points))
        found = np.all(np.isfinite(moved), axis=1)
        moved = np.where(found[:, None], moved, points)  # a failed refinement is lost; keep NaN out of OpenCV
        returned = self._refine(current, previous, moved, moved + sample(backward, moved))
        round_trip = np.where(found, np.linalg.norm(returned - points, axis=1), np.inf)
        inside = inside_image(moved, width=width, height=height)
        ok = np.isfinite(round_trip) & (round_trip <= self.fb_threshold) & inside
        return moved, ok

    def _refine(self, source: np.ndarray, target: np.ndarray, points: np.ndarray, guess: np.ndarray) -> np.ndarray:
        """Lucas-Kanade from ``points`` in ``source``, started at the dense flow's ``guess`` in ``target``;
        NaN where it fails (a window too flat to track, or lost)."""
        if not self.refine_window or len(points) == 0:
            return guess
        refined, status, _ = cv2.calcOpticalFlowPyrLK(
            source,
            target,
            np.ascontiguousarray(points.reshape(-1, 1, 2), dtype=np.float32),
            np.ascontiguousarray(guess.reshape(-1, 1, 2), dtype=np.float32),
            winSize=(self.refine_window, self.refine_window),
            maxLevel=self.refine_levels,
            criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 10, 0.03),
            flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
            minEigThreshold=1e-4,
        )
        return np.where(status.reshape(-1, 1) == 1, refined.reshape(-1, 2), np.nan)


def sample(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples (M, 2) of a dense flow field (H, W, 2) at sub-pixel ``points`` (M, 2), edges clamped."""
    if len(points) == 0:
        return np.zeros((0, 2), dtype=np.float32)
    map_x = np.ascontiguousarray(points[:, 0].reshape(1, -1), dtype=np.float32)
    map_y = np.ascontiguousarray(points[:, 1].reshape(1, -1), dtype=np.float32)
    values = cv2.remap(flow, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return values.reshape(-1, 2)
