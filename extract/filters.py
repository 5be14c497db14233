"""Which windows become samples. Each rejection is a reason (counted in the manifest) and a one-line detail.

Two checks: on the tracks alone, before depth is computed (a window whose tracks die is not worth its depth),
and on the lifted sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import FilterConfig
from .egomotion import CameraMotion


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str


def check_tracks(visibility: np.ndarray, *, config: FilterConfig) -> Rejection | None:
    """too-few-visible-points when, at any flow step, fewer than ``min_visible_fraction`` of the points are tracked."""
    return _every_step(visibility, "tracked", config=config)


def check_sample(valid: np.ndarray, motion: CameraMotion, *, config: FilterConfig) -> Rejection | None:
    """invalid-depth, too-few-visible-points (at any step, valid in 3D) and near-static, in that order."""
    depth_fraction = float(valid[0].mean())
    if depth_fraction < config.min_depth_fraction:
        return Rejection(
            "invalid-depth",
            f"{depth_fraction:.0%} of reference points have valid depth "
            f"(min_depth_fraction {config.min_depth_fraction:.0%})",
        )
    rejection = _every_step(valid, "valid in 3D", config=config)
    if rejection is not None:
        return rejection
    moved = moving_points(valid, motion, min_motion_pixels=config.min_motion_pixels)
    needed = max(1, math.ceil(config.min_moving_fraction * valid.shape[1]))
    if moved.sum() < needed:
        return Rejection(
            "near-static",
            f"{int(moved.sum())} of {valid.shape[1]} points move by >= {config.min_motion_pixels:g} px once camera "
            f"motion is removed ({motion.method}); need {needed} (min_moving_fraction {config.min_moving_fraction:g})",
        )
    return None


def moving_points(valid: np.ndarray, motion: CameraMotion, *, min_motion_pixels: float) -> np.ndarray:
    """(N,) bool: points valid in 3D at some step where they are at least ``min_motion_pixels`` away from where
    the camera motion alone would put them."""
    residual = np.where(valid[1:], motion.residual[1:], np.nan)
    return np.any(np.nan_to_num(residual, nan=-np.inf) >= min_motion_pixels, axis=0)


def _every_step(mask: np.ndarray, what: str, *, config: FilterConfig) -> Rejection | None:
    per_step = mask.mean(axis=1)
    worst = int(np.argmin(per_step))
    if per_step[worst] < config.min_visible_fraction:
        counts = ", ".join(str(int(count)) for count in mask.sum(axis=1))
        return Rejection(
            "too-few-visible-points",
            f"{per_step[worst]:.0%} of points {what} at step {worst} (points per step: {counts}; "
            f"min_visible_fraction {config.min_visible_fraction:.0%} at every step)",
        )
    return None
