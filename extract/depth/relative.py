"""Turning a relative (affine-invariant) disparity prediction into a positive depth-like map of unknown scale."""

from __future__ import annotations

import numpy as np


def disparity_to_depth(disparity: np.ndarray, *, min_relative_disparity: float = 0.02) -> np.ndarray:
    """Depth-like maps (T, H, W) float32 from relative disparity maps (T, H, W).

    The rule, per frame: ``d_n = disparity / median(disparity over its positive finite pixels)``, then
    ``depth = 1 / d_n`` where ``d_n >= min_relative_disparity`` and 0 (unknown) elsewhere. So the frame's
    median depth is 1 and depth never exceeds ``1 / min_relative_disparity`` (50 by default). A frame with no
    positive disparity is all 0.

    Why per frame: a monocular model fixes its scale (and shift) per image, so raw values are not comparable
    across frames; pinning each frame's median to 1 keeps the dominant, mostly static scene at a steady depth.
    The model's unknown shift is taken as 0, which makes tiny disparities unreliable: rather than invent very
    far points (sky, a far wall) they are marked unknown, and lifting drops them.
    """
    if not min_relative_disparity > 0:
        raise ValueError(f"min_relative_disparity: expected > 0, got {min_relative_disparity}")
    disparity = np.asarray(disparity, dtype=np.float64)
    depth = np.zeros(disparity.shape, dtype=np.float32)
    for index, frame in enumerate(disparity):
        positive = np.isfinite(frame) & (frame > 0)
        if not positive.any():
            continue
        normalised = np.where(positive, frame, 0.0) / np.median(frame[positive])
        usable = positive & (normalised >= min_relative_disparity)
        depth[index][usable] = 1.0 / normalised[usable]
    return depth
