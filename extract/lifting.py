"""From a window's 2D tracks and depth to 3D flow in the reference camera, with the camera's motion removed.

Order matters: the camera motion is found first (it needs only the reference frame's depth), then relative
depth is aligned to the reference frame on the static background that motion explains, then every step is
lifted and moved into the reference camera.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from dynaflip.geometry import lift_tracks

from .config import DepthConfig, EgoMotionConfig
from .depth.base import DepthResult
from .depth.relative import align_to_reference
from .egomotion import (
    FIXED_BY_SOURCE,
    HOMOGRAPHY,
    NOT_REMOVED,
    PNP,
    POSES,
    CameraMotion,
    ReferencePoints,
    estimate_camera_motion,
    expected_static_depth,
    recorded_camera_motion,
    remove_homographies,
    static_camera,
)


@dataclass
class LiftedWindow:
    points3d: np.ndarray  # (K, N, 3) float32 in the reference camera frame, camera motion removed
    valid: np.ndarray  # (K, N) bool
    motion: CameraMotion
    depth_scales: np.ndarray | None  # (K,) relative depth only: the scale each step was aligned with
    ego_motion_seconds: float

    def record(self) -> dict[str, Any]:
        """The sample's ``ego_motion`` meta entry."""
        record = self.motion.record()
        if self.depth_scales is not None:
            record["relative_depth_scale"] = [
                None if not np.isfinite(scale) else round(float(scale), 4) for scale in self.depth_scales[1:]
            ]
        return record


def lift_window(
    tracks2d: np.ndarray,
    visibility: np.ndarray,
    depth: DepthResult,
    intrinsics: np.ndarray,
    *,
    depth_config: DepthConfig,
    ego_motion: EgoMotionConfig,
    camera_fixed: bool = False,
) -> LiftedWindow:
    """Lift a window; raises :class:`~.egomotion.EgoMotionFailed` when its camera motion cannot be estimated.
    ``camera_fixed``: the source says the camera does not move (used in mode "auto" when trusted)."""
    clock = time.perf_counter()
    limits = {
        "min_depth": depth_config.min_depth,
        "max_depth": depth_config.max_depth,
        "max_relative_spread": depth_config.max_relative_spread,
    }
    reference = None
    if depth.kind != "none":
        reference = ReferencePoints.lift(tracks2d[0], depth.depth[0], intrinsics, **limits)
    threshold = ego_motion.threshold_pixels
    poses = depth.cam_to_world if ego_motion.mode in ("auto", "recorded") and reference is not None else None
    if poses is not None:
        motion = recorded_camera_motion(poses, tracks2d, visibility, reference, intrinsics, threshold_pixels=threshold)
        motion.decision = POSES
    elif ego_motion.mode == "auto" and camera_fixed and ego_motion.trust_source_fixed_cameras:
        motion = static_camera(tracks2d, visibility, reference, intrinsics, threshold_pixels=threshold)
        motion.decision = FIXED_BY_SOURCE
    elif ego_motion.mode in ("auto", "estimate"):
        motion = estimate_camera_motion(
            tracks2d,
            visibility,
            reference,
            intrinsics,
            threshold_pixels=threshold,
            min_static_points=ego_motion.min_static_points,
            min_static_fraction=ego_motion.min_static_fraction,
            keep_static_ratio=ego_motion.keep_static_ratio,
        )
    else:
        motion = static_camera(tracks2d, visibility, reference, intrinsics, threshold_pixels=threshold)
        motion.decision = NOT_REMOVED

    maps, scales = depth.depth, None
    if depth.kind == "relative":
        maps, scales = align_to_reference(
            maps,
            tracks2d,
            motion.static,
            expected_static_depth(motion, reference),
            max_relative_spread=depth_config.max_relative_spread,
        )
    seconds = time.perf_counter() - clock

    # Recorded poses go in as recorded (the same numbers as before estimation existed).
    cam_to_world = poses if poses is not None else (motion.to_reference if motion.method == PNP else None)
    points3d, valid = lift_tracks(tracks2d, visibility, maps, intrinsics, cam_to_world=cam_to_world, **limits)
    if motion.method == HOMOGRAPHY:
        clock = time.perf_counter()
        points3d = remove_homographies(points3d, valid, tracks2d, motion.homographies, intrinsics)
        seconds += time.perf_counter() - clock
    return LiftedWindow(points3d=points3d, valid=valid, motion=motion, depth_scales=scales, ego_motion_seconds=seconds)
