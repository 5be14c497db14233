"""One rendered view: RGB, metric depth, camera geometry and (optionally) which body each pixel shows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Segmentation values that are not body ids.
BACKGROUND_ID = -1  # nothing hit (sky box) or an object that belongs to no body
RENDER_ONLY_ID = -2  # a render-only geom added by an OOD shift (distractor, occluder)


@dataclass
class Frame:
    """A rendered frame in the project's conventions (see :mod:`dynaflip.sim.camera`).

    ``rgb`` (H, W, 3) uint8; ``depth`` (H, W) float32 metric z-depth in metres along the optical axis, 0 where
    no surface is hit (None when not rendered);
    ``intrinsics`` (3, 3) float32; ``cam_to_world`` (4, 4) float64 OpenCV camera pose; ``segmentation``
    (H, W) int32 body id per pixel (``BACKGROUND_ID`` / ``RENDER_ONLY_ID`` otherwise) when requested.
    Upside-down cameras are already rotated upright, identically in every array.
    """

    rgb: np.ndarray
    depth: np.ndarray | None
    intrinsics: np.ndarray
    cam_to_world: np.ndarray
    camera: str
    segmentation: np.ndarray | None = None

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])
