"""The default CPU tracker: OpenCV pyramidal Lucas-Kanade, chained frame to frame, with a forward-backward check.

A point is tracked from frame t to t+1 and then back from t+1 to t; when the round trip misses its start by
more than ``fb_threshold`` pixels, when OpenCV reports failure (status 0, e.g. a window too flat to track:
minimum eigenvalue below ``min_eigen``), or when the new position leaves the image, the point is lost: it is
invisible from that frame on and keeps its last good position. Lucas-Kanade cannot re-acquire a point, so a
lost point never becomes visible again.

Defaults (window 15, 10 iterations, epsilon 0.03) were chosen on the moving-box ground truth of the test
suite: against OpenCV's usual 21 px / 30 / 0.01 they were as accurate or better (a smaller window mixes less
background into points near an object's edge) at about 1.5x the speed.

Speed: OpenCV's Python binding cannot take the pyramids made by ``cv2.buildOpticalFlowPyramid`` (opencv
issue #4777, still open in 5.0: "prevImg is not a numpy array, neither a scalar"), so each of the two calls per
step rebuilds both pyramids and the gradients internally. Measured on 2 cores, that fixed cost is about 0.2 ms
per call at 224x224 and 0.5 ms at 480x640, against 3.5-4.5 ms per call of per-point work for 400 points with a
21 px window, which pyramid reuse would not change. Each frame is converted to grayscale once.
"""

from __future__ import annotations

import cv2
import numpy as np

from .chained import ChainedTracker, inside_image


class OpenCVLKTracker(ChainedTracker):
    """Pyramidal Lucas-Kanade tracker (``cv2.calcOpticalFlowPyrLK``) with a forward-backward consistency check.

    ``track_stride`` > 1 tracks only every ``track_stride``-th frame (and always the last one), which divides
    the cost by about the stride; positions on the frames in between are interpolated linearly, and a point
    lost on a stride is invisible on all the frames of that stride.
    """

    name = "opencv-lk"

    def __init__(
        self,
        *,
        window: int = 15,
        pyramid_levels: int = 3,
        max_iterations: int = 10,
        epsilon: float = 0.03,
        fb_threshold: float = 1.0,
        min_eigen: float = 1e-4,
        track_stride: int = 1,
    ) -> None:
        if window < 3:
            raise ValueError(f"window: expected >= 3 pixels, got {window}")
        if pyramid_levels < 0:
            raise ValueError(f"pyramid_levels: expected >= 0, got {pyramid_levels}")
        if max_iterations < 1:
            raise ValueError(f"max_iterations: expected >= 1, got {max_iterations}")
        if not epsilon > 0:
            raise ValueError(f"epsilon: expected > 0, got {epsilon}")
        if not fb_threshold > 0:
            raise ValueError(f"fb_threshold: expected > 0 pixels, got {fb_threshold}")
        if not min_eigen >= 0:
            raise ValueError(f"min_eigen: expected >= 0, got {min_eigen}")
        super().__init__(track_stride=track_stride)
        self.window = int(window)
        self.pyramid_levels = int(pyramid_levels)
        self.max_iterations = int(max_iterations)
        self.epsilon = float(epsilon)
        self.fb_threshold = float(fb_threshold)
        self.min_eigen = float(min_eigen)
        self.version = self.settings_version(
            window=self.window, levels=self.pyramid_levels, iterations=self.max_iterations, epsilon=self.epsilon,
            fb=self.fb_threshold, min_eigen=self.min_eigen,
        )  # fmt: skip

    def _step(
        self, previous: np.ndarray, current: np.ndarray, points: np.ndarray, *, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Track ``points`` (M, 2) from ``previous`` to ``current``; returns new positions and which are good."""
        start = np.ascontiguousarray(points.reshape(-1, 1, 2), dtype=np.float32)
        forward, status_forward, _ = cv2.calcOpticalFlowPyrLK(previous, current, start, None, **self._lk_options())
        # The backward pass starts from scratch (no initial flow): seeding it with the start point would let
        # it stay there and turn the check into a mere patch comparison.
        backward, status_backward, _ = cv2.calcOpticalFlowPyrLK(current, previous, forward, None, **self._lk_options())
        forward = forward.reshape(-1, 2)
        round_trip = np.linalg.norm(backward.reshape(-1, 2) - start.reshape(-1, 2), axis=-1)
        inside = inside_image(forward, width=width, height=height)
        ok = (
            (status_forward.ravel() == 1)
            & (status_backward.ravel() == 1)
            & np.isfinite(round_trip)
            & (round_trip <= self.fb_threshold)
            & inside
        )
        return forward, ok

    def _lk_options(self) -> dict:
        return {
            "winSize": (self.window, self.window),
            "maxLevel": self.pyramid_levels,
            "criteria": (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, self.max_iterations, self.epsilon),
            "minEigThreshold": self.min_eigen,
        }
