"""Camera geometry: pinhole intrinsics, the query grid, bilinear depth sampling and lifting 2D tracks
to 3D points in the reference camera frame.

Conventions used throughout DynaFLIP: pixel (u, v) = (column, row) with integer coordinates at pixel
centres; camera frame with OpenCV axes (x right, y down, z forward); poses are 4x4 ``cam_to_world``.
All functions are NumPy and work in float64 internally.
"""

from __future__ import annotations

import math

import numpy as np


def intrinsics_from_fov(*, fovy_degrees: float, width: int, height: int) -> np.ndarray:
    """Pinhole intrinsics of a centred camera with vertical field of view ``fovy_degrees``."""
    focal = 0.5 * height / math.tan(math.radians(fovy_degrees) / 2)
    return np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]], dtype=np.float32)


def scale_intrinsics(intrinsics: np.ndarray, *, scale_x: float, scale_y: float) -> np.ndarray:
    """Intrinsics after resizing the image by (scale_x, scale_y), with pixel centres kept consistent."""
    out = np.asarray(intrinsics, dtype=np.float64).copy()
    out[0, 0] *= scale_x
    out[0, 1] *= scale_x
    out[1, 1] *= scale_y
    # u' + 0.5 = (u + 0.5) * s: continuous coordinates scale, pixel-centre coordinates shift by half a pixel.
    out[0, 2] = (out[0, 2] + 0.5) * scale_x - 0.5
    out[1, 2] = (out[1, 2] + 0.5) * scale_y - 0.5
    return out.astype(np.float32)


def query_grid(*, grid_size: int, width: int, height: int, margin: float = 0.05) -> np.ndarray:
    """(G*G, 2) pixel coordinates of a uniform G x G grid, row-major, ``margin`` (fraction) from the border."""
    if grid_size < 1:
        raise ValueError(f"grid_size: expected >= 1, got {grid_size}")
    us = np.linspace(margin * (width - 1), (1 - margin) * (width - 1), grid_size)
    vs = np.linspace(margin * (height - 1), (1 - margin) * (height - 1), grid_size)
    grid_u, grid_v = np.meshgrid(us, vs)
    return np.stack([grid_u.ravel(), grid_v.ravel()], axis=-1).astype(np.float32)


def bilinear_depth(
    depth: np.ndarray,
    points: np.ndarray,
    *,
    min_depth: float = 1e-3,
    max_depth: float = 1e3,
    max_relative_spread: float | None = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``depth`` (H, W) at sub-pixel ``points`` (N, 2) = (u, v).

    Returns ``(values (N,), valid (N,))``. A sample is valid only when all four neighbours are inside the
    image, finite and within [min_depth, max_depth]; with ``max_relative_spread`` it is also invalid when
    the neighbours straddle a depth edge (max/min - 1 above the threshold), where interpolation would
    invent a point floating between foreground and background.
    """
    depth = np.asarray(depth, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    height, width = depth.shape
    u, v = points[:, 0], points[:, 1]
    finite = np.isfinite(u) & np.isfinite(v)
    u0 = np.floor(np.where(finite, u, 0)).astype(np.int64)
    v0 = np.floor(np.where(finite, v, 0)).astype(np.int64)
    # A point exactly on the last row/column interpolates with weight 0 on the (missing) next pixel.
    u0 = np.where(u0 == width - 1, width - 2, u0)
    v0 = np.where(v0 == height - 1, height - 2, v0)
    inside = finite & (u0 >= 0) & (v0 >= 0) & (u0 + 1 < width) & (v0 + 1 < height)
    uc, vc = np.clip(u0, 0, width - 2), np.clip(v0, 0, height - 2)
    du, dv = np.clip(u - uc, 0, 1), np.clip(v - vc, 0, 1)
    corners = np.stack([depth[vc, uc], depth[vc, uc + 1], depth[vc + 1, uc], depth[vc + 1, uc + 1]], axis=-1)  # (N, 4)
    weights = np.stack([(1 - du) * (1 - dv), du * (1 - dv), (1 - du) * dv, du * dv], axis=-1)
    corner_ok = np.isfinite(corners) & (corners >= min_depth) & (corners <= max_depth)
    valid = inside & np.all(corner_ok, axis=-1)
    if max_relative_spread is not None:
        safe = np.where(corner_ok, corners, 1.0)
        spread = safe.max(axis=-1) / np.maximum(safe.min(axis=-1), 1e-12) - 1
        valid &= spread <= max_relative_spread
    values = np.where(valid, np.sum(np.where(corner_ok, corners, 0.0) * weights, axis=-1), 0.0)
    return values, valid


def unproject(points: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Camera-frame 3D points (..., 3) of pixels ``points`` (..., 2) at z-depth ``depth`` (...)."""
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    fx, fy, cx, cy, skew = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2], intrinsics[0, 1]
    z = np.asarray(depth, dtype=np.float64)
    v = np.asarray(points, dtype=np.float64)[..., 1]
    u = np.asarray(points, dtype=np.float64)[..., 0]
    y = (v - cy) / fy
    x = (u - cx - skew * y) / fx
    return np.stack([x * z, y * z, z], axis=-1)


def project(points3d: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pixel coordinates (..., 2) of camera-frame points (..., 3) (z must be positive)."""
    points3d = np.asarray(points3d, dtype=np.float64)
    homogeneous = points3d @ np.asarray(intrinsics, dtype=np.float64).T
    return homogeneous[..., :2] / homogeneous[..., 2:3]


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 rigid transform to points (..., 3)."""
    transform = np.asarray(transform, dtype=np.float64)
    return np.asarray(points, dtype=np.float64) @ transform[:3, :3].T + transform[:3, 3]


def relative_transform(reference_to_world: np.ndarray, other_to_world: np.ndarray) -> np.ndarray:
    """4x4 transform taking points of the ``other`` camera frame into the ``reference`` camera frame."""
    reference_to_world = np.asarray(reference_to_world, dtype=np.float64)
    rotation, translation = reference_to_world[:3, :3], reference_to_world[:3, 3]
    world_to_reference = np.eye(4)
    world_to_reference[:3, :3] = rotation.T
    world_to_reference[:3, 3] = -rotation.T @ translation
    return world_to_reference @ np.asarray(other_to_world, dtype=np.float64)


def lift_tracks(
    tracks2d: np.ndarray,
    visibility: np.ndarray,
    depths: np.ndarray | list[np.ndarray],
    intrinsics: np.ndarray,
    *,
    cam_to_world: np.ndarray | None = None,
    min_depth: float = 1e-3,
    max_depth: float = 1e3,
    max_relative_spread: float | None = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Lift 2D tracks to 3D points in the reference camera frame (the camera of step 0).

    ``tracks2d`` (K, N, 2), ``visibility`` (K, N), ``depths`` K depth maps (H, W) aligned with the steps,
    ``cam_to_world`` optional (K, 4, 4) camera poses: when given, the camera's own motion is removed by
    expressing every step in the step-0 camera frame. Depth is sampled bilinearly and only where the point
    is visible. Returns ``(points3d (K, N, 3) float32, valid (K, N) bool)``, zeros where invalid.
    """
    tracks2d = np.asarray(tracks2d)
    visibility = np.asarray(visibility, dtype=bool)
    num_steps, num_points = visibility.shape
    if len(depths) != num_steps:
        raise ValueError(f"depths: expected {num_steps} depth maps (one per flow step), got {len(depths)}")
    if cam_to_world is not None and np.shape(cam_to_world) != (num_steps, 4, 4):
        raise ValueError(f"cam_to_world: expected shape ({num_steps}, 4, 4), got {np.shape(cam_to_world)}")
    points3d = np.zeros((num_steps, num_points, 3), dtype=np.float64)
    valid = np.zeros((num_steps, num_points), dtype=bool)
    for step in range(num_steps):
        z, ok = bilinear_depth(
            depths[step],
            tracks2d[step],
            min_depth=min_depth,
            max_depth=max_depth,
            max_relative_spread=max_relative_spread,
        )
        ok &= visibility[step]
        camera_points = unproject(tracks2d[step], z, intrinsics)
        if cam_to_world is not None and step > 0:
            camera_points = transform_points(relative_transform(cam_to_world[0], cam_to_world[step]), camera_points)
        points3d[step] = np.where(ok[:, None], camera_points, 0.0)
        valid[step] = ok
    return points3d.astype(np.float32), valid


def invert_transform(transform: np.ndarray) -> np.ndarray:
    """Inverse of a 4x4 rigid transform (rotation transposed, not a general matrix inverse)."""
    transform = np.asarray(transform, dtype=np.float64)
    inverse = np.eye(4)
    inverse[:3, :3] = transform[:3, :3].T
    inverse[:3, 3] = -transform[:3, :3].T @ transform[:3, 3]
    return inverse


def rotation_degrees(rotation: np.ndarray) -> float:
    """The angle (degrees) of a 3x3 rotation matrix."""
    cosine = (np.trace(np.asarray(rotation, dtype=np.float64)[:3, :3]) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def fit_rigid_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 4x4 rigid transform T minimising sum |T(source_i) - target_i|^2 over points (N, 3), N >= 3 (Kabsch:
    SVD of the cross-covariance of the centred points, with the reflection case corrected)."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3 or len(source) < 3:
        raise ValueError(
            f"expected two (N >= 3, 3) point sets of the same shape, got {source.shape} and {target.shape}"
        )
    source_centre, target_centre = source.mean(axis=0), target.mean(axis=0)
    covariance = (target - target_centre).T @ (source - source_centre)
    left, _, right = np.linalg.svd(covariance)
    correction = np.diag([1.0, 1.0, np.sign(np.linalg.det(left @ right)) or 1.0])
    transform = np.eye(4)
    transform[:3, :3] = left @ correction @ right
    transform[:3, 3] = target_centre - transform[:3, :3] @ source_centre
    return transform
