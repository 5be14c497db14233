"""Relative (affine-invariant) disparity: turned into a positive depth-like map of unknown scale, then aligned
across the frames of a window so that the scale does not change with what the frame shows."""

from __future__ import annotations

import numpy as np


def disparity_to_depth(disparity: np.ndarray, *, min_relative_disparity: float = 0.02) -> np.ndarray:
    """Depth-like maps (T, H, W) float32 from relative disparity maps (T, H, W).

    The rule, per frame: ``d_n = disparity / median(disparity over its positive finite pixels)``, then
    ``depth = 1 / d_n`` where ``d_n >= min_relative_disparity`` and 0 (unknown) elsewhere. So the frame's
    median depth is 1 and depth never exceeds ``1 / min_relative_disparity`` (50 by default). A frame with no
    positive disparity is all 0.

    Why per frame: a monocular model fixes its scale (and shift) per image, so raw values are not comparable
    across frames. The median follows the content, though (a hand filling the frame pulls it closer), so this
    only gives each frame a unit; the pipeline then puts every frame of a window on the scale of its reference
    frame I_t, on the static background (:func:`align_to_reference`). The model's unknown shift is taken as 0,
    which makes tiny disparities unreliable: rather than invent very far points (sky, a far wall) they are
    marked unknown, and lifting drops them.
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


def align_to_reference(
    depth: np.ndarray,
    tracks2d: np.ndarray,
    static: np.ndarray,
    expected_z: np.ndarray,
    *,
    min_points: int = 8,
    max_relative_spread: float | None = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Put every step of a window's relative depth (K, H, W) on the scale of its reference frame, step 0.

    A monocular model's scale follows the content of each image (and :func:`disparity_to_depth` pins each
    frame's median to 1), so when a hand fills more of the frame the static background's depth drifts: fake
    motion in z. Here each step k is multiplied by ``s_k = median(expected_z / depth_k)`` over the tracked
    static background (``static`` (K, N), at ``tracks2d`` (K, N, 2)), where ``expected_z`` (K, N) is the
    depth those points have at step k in the reference frame's units (their reference depth moved by the
    camera motion; unchanged for a static camera). A step with fewer than ``min_points`` such points cannot
    be aligned: its depth becomes unknown (0), so its points are dropped rather than lifted at a wrong scale.
    Returns the aligned depth (float32) and the scales (K,) (NaN where not aligned; 1 at step 0).
    """
    from dynaflip.geometry import bilinear_depth

    aligned = np.array(depth, dtype=np.float32, copy=True)
    scales = np.ones(len(aligned))
    for step in range(1, len(aligned)):
        measured, ok = bilinear_depth(aligned[step], tracks2d[step], max_relative_spread=max_relative_spread)
        use = ok & static[step] & np.isfinite(expected_z[step]) & (expected_z[step] > 0)
        if use.sum() < min_points:
            aligned[step] = 0.0
            scales[step] = np.nan
            continue
        scales[step] = float(np.median(expected_z[step, use] / measured[use]))
        aligned[step] *= np.float32(scales[step])
    return aligned, scales
