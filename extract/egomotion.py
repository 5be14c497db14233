"""The camera's own (ego-)motion between the reference frame I_t and each flow step, for its removal.

Human video is mostly handheld or head-mounted: left in, the stored 3D flow is mostly the camera's motion.
Recorded camera poses are used when the source has them. Otherwise the motion is estimated from the tracks of
the static background, taken to be the largest set of tracked points that one camera motion explains (RANSAC):

- with depth (metric or relative): PnP. The reference points, lifted with the depth of I_t, and their tracked
  pixels at step k give the camera's rigid motion (``cv2.solvePnPRansac`` with EPnP, then Levenberg-Marquardt
  on the inliers). Only the reference depth enters, so a relative depth map's per-frame scale does not; the
  translation comes out in the reference depth's units, the same as the points.
- without depth (2.5D flow): a homography per step (``cv2.findHomography`` with RANSAC). It removes the
  camera's rotation exactly, and the effect of its translation on a distant or planar background.

Stated assumption: the static background is the largest rigid set of tracked points. A moving object that
covers most of the tracked grid would be taken for the background, so before any fit the hypothesis "the camera
did not move" is tested, and kept when it explains at least ``keep_static_ratio`` times as many points as the
best fitted motion (a fixed camera, the common case for robot data, with a large object moving in front of it).
Each sample's ``ego_motion`` meta says which hypothesis was kept (``decision``) and how many points agreed with
no camera motion.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from dynaflip.errors import DynaflipError
from dynaflip.geometry import (
    bilinear_depth,
    invert_transform,
    project,
    relative_transform,
    rotation_degrees,
    transform_points,
    unproject,
)

EGO_MOTION_MODES = ("auto", "estimate", "recorded", "disabled")
# How the camera motion was removed, as recorded in a sample's meta.json (schema: EGO_MOTION_METHODS).
RECORDED, PNP, HOMOGRAPHY, NONE = "recorded-poses", "pnp-ransac", "homography-ransac", "none"
# Why (the meta's ``decision``): a fitted motion explained clearly more points than no motion; no motion explained
# enough of them; the source says the camera is fixed; poses were recorded; removal is off (or no poses in mode
# "recorded").
FITTED, NO_MOTION_KEPT, FIXED_BY_SOURCE, POSES, NOT_REMOVED = (
    "fitted",
    "no-motion-kept",
    "fixed-by-source",
    "recorded-poses",
    "not-removed",
)


class EgoMotionFailed(DynaflipError, RuntimeError):
    """Too few tracked points agree on one camera motion at some step; the message says which and how many."""


@dataclass
class CameraMotion:
    """The camera's motion over the K flow steps of a window.

    ``to_reference`` (K, 4, 4): step-k camera frame -> reference camera frame (identity at step 0, and at every
    step for the methods that have no rigid motion). ``homographies`` (K, 3, 3): reference pixels -> step-k
    pixels of the static background (2.5D only). ``static`` (K, N): the points this motion explains (the
    background); ``residual`` (K, N) pixels between each tracked point and where it would be if it were static
    (NaN where unknown: not visible, or no reference depth for a rigid motion).
    """

    method: str
    to_reference: np.ndarray
    static: np.ndarray
    residual: np.ndarray
    homographies: np.ndarray | None = None
    decision: str | None = None
    no_motion_fraction: list[float] | None = None  # per step 1..K-1: share of usable points agreeing with no motion

    @property
    def removed(self) -> bool:
        return self.method != NONE

    def record(self) -> dict[str, Any]:
        """What goes into the sample's meta (``ego_motion``): the method and, per step 1..K-1, the share of
        visible points that agree with it and the size of the camera motion."""
        steps = range(1, len(self.static))
        visible = ~np.isnan(self.residual)
        record: dict[str, Any] = {
            "method": self.method,
            "static_fraction": [round(float(self.static[k].sum() / max(1, visible[k].sum())), 4) for k in steps],
        }
        if self.method in (RECORDED, PNP):
            record["rotation_degrees"] = [round(rotation_degrees(self.to_reference[k]), 4) for k in steps]
            record["translation"] = [round(float(np.linalg.norm(self.to_reference[k][:3, 3])), 5) for k in steps]
        if self.decision is not None:
            record["decision"] = self.decision
        if self.no_motion_fraction is not None:
            record["no_motion_fraction"] = self.no_motion_fraction
        return record


@dataclass(frozen=True)
class ReferencePoints:
    """The query points lifted with the reference frame's depth: (N, 3) camera-frame points and validity."""

    points: np.ndarray
    valid: np.ndarray

    @classmethod
    def lift(
        cls,
        pixels: np.ndarray,
        depth: np.ndarray,
        intrinsics: np.ndarray,
        *,
        min_depth: float,
        max_depth: float,
        max_relative_spread: float | None,
    ) -> ReferencePoints:
        z, valid = bilinear_depth(
            depth, pixels, min_depth=min_depth, max_depth=max_depth, max_relative_spread=max_relative_spread
        )
        return cls(points=unproject(pixels, z, intrinsics), valid=valid)


def estimate_camera_motion(
    tracks2d: np.ndarray,
    visibility: np.ndarray,
    reference: ReferencePoints | None,
    intrinsics: np.ndarray,
    *,
    threshold_pixels: float,
    min_static_points: int,
    min_static_fraction: float,
    keep_static_ratio: float | None = None,
) -> CameraMotion:
    """PnP per step when ``reference`` depth is given, else a homography per step. Raises
    :class:`EgoMotionFailed` when, at some step, fewer than ``min_static_points`` tracked points, or than
    ``min_static_fraction`` of them, agree on one motion within ``threshold_pixels``.

    With ``keep_static_ratio``, no camera motion is tested first: it is kept (method "none", decision
    "no-motion-kept") when it passes the same two minimums and explains at least ``keep_static_ratio`` times as
    many points as the fitted motion; the fit is skipped when no fit could explain enough more."""
    fit = functools.partial(
        _fit_camera_motion,
        tracks2d,
        visibility,
        reference,
        intrinsics,
        threshold_pixels=threshold_pixels,
        min_static_points=min_static_points,
        min_static_fraction=min_static_fraction,
    )
    if keep_static_ratio is None:
        return fit()
    still = static_camera(tracks2d, visibility, reference, intrinsics, threshold_pixels=threshold_pixels)
    usable = (visibility & (reference.valid if reference is not None else True))[1:]
    tracked = usable.sum(axis=1)
    agree = (still.static[1:] & usable).sum(axis=1)
    still.no_motion_fraction = [round(float(a / max(1, t)), 4) for a, t in zip(agree, tracked, strict=True)]
    enough = bool(np.all(agree >= min_static_points) and np.all(agree >= min_static_fraction * tracked))
    if enough and agree.sum() >= keep_static_ratio * tracked.sum():
        still.decision = NO_MOTION_KEPT  # no fit can explain 1 / keep_static_ratio times as many points
        return still
    try:
        motion = fit()
    except EgoMotionFailed:
        if not enough:
            raise
        still.decision = NO_MOTION_KEPT
        return still
    fitted = (motion.static[1:] & usable).sum()
    if enough and agree.sum() >= keep_static_ratio * fitted:
        still.decision = NO_MOTION_KEPT
        return still
    motion.decision, motion.no_motion_fraction = FITTED, still.no_motion_fraction
    return motion


def _fit_camera_motion(
    tracks2d: np.ndarray,
    visibility: np.ndarray,
    reference: ReferencePoints | None,
    intrinsics: np.ndarray,
    *,
    threshold_pixels: float,
    min_static_points: int,
    min_static_fraction: float,
) -> CameraMotion:
    tracks2d = np.asarray(tracks2d, dtype=np.float64)
    num_steps = len(tracks2d)
    to_reference = np.tile(np.eye(4), (num_steps, 1, 1))
    homographies = None if reference is not None else np.tile(np.eye(3), (num_steps, 1, 1))
    # The points a motion can be fitted to: tracked, and with reference depth for a rigid (PnP) fit.
    usable_points = visibility & (reference.valid if reference is not None else True)
    for step in range(1, num_steps):
        usable = usable_points[step]
        count = int(usable.sum())
        if count < min_static_points:
            raise EgoMotionFailed(
                f"step {step}: {count} tracked points{' with reference depth' if reference is not None else ''}, "
                f"too few to estimate the camera motion (min_static_points {min_static_points})"
            )
        try:
            if reference is not None:
                to_reference[step] = _pnp(
                    reference.points[usable], tracks2d[step, usable], intrinsics, threshold_pixels=threshold_pixels
                )
            else:
                homographies[step] = _homography(tracks2d[0, usable], tracks2d[step, usable], threshold_pixels)
        except cv2.error as error:  # degenerate input OpenCV asserts on: this window's failure, not the worker's
            what = "solvePnPRansac" if reference is not None else "findHomography"
            message = " ".join(str(error).split())[-160:]
            raise EgoMotionFailed(f"step {step}: OpenCV {what} failed on {count} points ({message})") from None
    motion = _with_residuals(
        HOMOGRAPHY if reference is None else PNP,
        tracks2d,
        visibility,
        reference,
        intrinsics,
        to_reference=to_reference,
        homographies=homographies,
        threshold_pixels=threshold_pixels,
    )
    for step in range(1, num_steps):
        tracked = int(usable_points[step].sum())
        agree = int(motion.static[step].sum())
        if agree < min_static_points or agree < min_static_fraction * tracked:
            raise EgoMotionFailed(
                f"step {step}: only {agree} of {tracked} tracked points agree on one camera motion within "
                f"{threshold_pixels:g} px (min_static_points {min_static_points}, "
                f"min_static_fraction {min_static_fraction:g})"
            )
    return motion


def recorded_camera_motion(
    cam_to_world: np.ndarray,
    tracks2d: np.ndarray,
    visibility: np.ndarray,
    reference: ReferencePoints | None,
    intrinsics: np.ndarray,
    *,
    threshold_pixels: float,
) -> CameraMotion:
    """The camera motion given by recorded poses (K, 4, 4) ``cam_to_world``, one per flow step."""
    to_reference = np.stack([relative_transform(cam_to_world[0], pose) for pose in cam_to_world])
    return _with_residuals(
        RECORDED,
        tracks2d,
        visibility,
        reference,
        intrinsics,
        to_reference=to_reference,
        homographies=None,
        threshold_pixels=threshold_pixels,
    )


def static_camera(
    tracks2d: np.ndarray,
    visibility: np.ndarray,
    reference: ReferencePoints | None,
    intrinsics: np.ndarray,
    *,
    threshold_pixels: float,
) -> CameraMotion:
    """No removal: the camera is taken as static (method "none"); static points are those that do not move."""
    num_steps = len(tracks2d)
    return _with_residuals(
        NONE,
        tracks2d,
        visibility,
        reference,
        intrinsics,
        to_reference=np.tile(np.eye(4), (num_steps, 1, 1)),
        homographies=np.tile(np.eye(3), (num_steps, 1, 1)),
        threshold_pixels=threshold_pixels,
    )


def expected_static_depth(motion: CameraMotion, reference: ReferencePoints) -> np.ndarray:
    """(K, N) z-depth each reference point would have at each step if it were static (in the reference depth's
    units): what a relative depth map is aligned to."""
    return np.stack(
        [transform_points(invert_transform(transform), reference.points)[:, 2] for transform in motion.to_reference]
    )


def remove_homographies(
    points3d: np.ndarray, valid: np.ndarray, tracks2d: np.ndarray, homographies: np.ndarray, intrinsics: np.ndarray
) -> np.ndarray:
    """2.5D flow with the camera motion removed: each valid step-k point becomes the unit-depth ray of its pixel
    mapped back into the reference image by the inverse homography."""
    out = np.zeros_like(points3d)
    out[0] = points3d[0]
    for step in range(1, len(points3d)):
        back = _apply_homography(np.linalg.inv(homographies[step]), np.asarray(tracks2d[step], dtype=np.float64))
        rays = unproject(back, np.ones(len(back)), intrinsics)
        out[step] = np.where(valid[step][:, None], rays, 0.0)
    return out.astype(points3d.dtype)


# ---- internals -----------------------------------------------------------------------------------------------


def _pnp(points: np.ndarray, pixels: np.ndarray, intrinsics: np.ndarray, *, threshold_pixels: float) -> np.ndarray:
    """Step camera -> reference camera transform from reference-frame points (M, 3) seen at ``pixels`` (M, 2)."""
    camera = np.asarray(intrinsics, dtype=np.float64)
    points = np.ascontiguousarray(points, dtype=np.float64)
    pixels = np.ascontiguousarray(pixels, dtype=np.float64)
    found, rotation_vector, translation, inliers = cv2.solvePnPRansac(
        points,
        pixels,
        camera,
        None,
        iterationsCount=200,
        reprojectionError=threshold_pixels,
        confidence=0.999,
        flags=cv2.SOLVEPNP_EPNP,
    )
    if not found or inliers is None or len(inliers) < 6:
        return np.full((4, 4), np.nan)  # no consensus: every point is then a non-agreeing one
    chosen = inliers.ravel()
    rotation_vector, translation = cv2.solvePnPRefineLM(
        points[chosen], pixels[chosen], camera, None, rotation_vector, translation
    )
    reference_to_step = np.eye(4)
    reference_to_step[:3, :3] = cv2.Rodrigues(rotation_vector)[0]
    reference_to_step[:3, 3] = translation.ravel()
    return invert_transform(reference_to_step)


def _homography(reference: np.ndarray, pixels: np.ndarray, threshold_pixels: float) -> np.ndarray:
    matrix, _ = cv2.findHomography(
        np.ascontiguousarray(reference, dtype=np.float64),
        np.ascontiguousarray(pixels, dtype=np.float64),
        cv2.RANSAC,
        threshold_pixels,
        maxIters=2000,
        confidence=0.999,
    )
    return np.full((3, 3), np.nan) if matrix is None else matrix


def _apply_homography(matrix: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    homogeneous = np.concatenate([pixels, np.ones((len(pixels), 1))], axis=1) @ matrix.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return homogeneous[:, :2] / homogeneous[:, 2:3]


def _with_residuals(
    method: str,
    tracks2d: np.ndarray,
    visibility: np.ndarray,
    reference: ReferencePoints | None,
    intrinsics: np.ndarray,
    *,
    to_reference: np.ndarray,
    homographies: np.ndarray | None,
    threshold_pixels: float,
) -> CameraMotion:
    """The motion with, per point and step, the pixel distance to where a static point would be."""
    tracks2d = np.asarray(tracks2d, dtype=np.float64)
    residual = np.full(tracks2d.shape[:2], np.nan)
    rigid = method in (RECORDED, PNP)
    for step in range(len(tracks2d)):
        if rigid:
            predicted = np.full_like(tracks2d[step], np.nan)
            in_step = transform_points(invert_transform(to_reference[step]), reference.points)
            ahead = reference.valid & (in_step[:, 2] > 1e-9)
            predicted[ahead] = project(in_step[ahead], intrinsics)
        else:
            predicted = _apply_homography(homographies[step], tracks2d[0])
        distance = np.linalg.norm(tracks2d[step] - predicted, axis=-1)
        residual[step] = np.where(visibility[step] & np.isfinite(distance), distance, np.nan)
    static = np.nan_to_num(residual, nan=np.inf) <= threshold_pixels
    return CameraMotion(
        method=method, to_reference=to_reference, static=static, residual=residual, homographies=homographies
    )
