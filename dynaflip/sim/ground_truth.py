"""Exact 3D flow from the simulator: where the surface points seen in a reference frame are later.

A query pixel is unprojected with the reference depth, attached to the body it shows (segmentation), and
carried along with that body's pose. Everything is rigid per body, so this is exact up to depth precision;
it is the ground truth for the project's extracted 3D flow and a probe target.
"""

from __future__ import annotations

import numpy as np

from dynaflip.geometry import unproject

from .frame import BACKGROUND_ID, RENDER_ONLY_ID


def quaternion_to_matrix(quaternions: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz unit quaternions (MuJoCo's order) -> (..., 3, 3) rotation matrices."""
    q = np.asarray(quaternions, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def _check_poses(name: str, poses: np.ndarray, ndim: int) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != ndim or poses.shape[-1] != 7:
        expected = "(nbody, 7)" if ndim == 2 else "(K, nbody, 7)"
        raise ValueError(f"{name}: expected shape {expected} of [x, y, z, qw, qx, qy, qz], got {poses.shape}")
    return poses


def ground_truth_flow(
    query_pixels: np.ndarray,
    *,
    depth: np.ndarray,
    segmentation: np.ndarray,
    intrinsics: np.ndarray,
    cam_to_world: np.ndarray,
    reference_body_poses: np.ndarray,
    body_poses: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Future positions of the surface points under ``query_pixels`` (N, 2) (u, v) of a reference frame.

    ``depth`` (H, W) metres and ``segmentation`` (H, W) body ids of the reference frame; ``cam_to_world``
    its (4, 4) pose; ``reference_body_poses`` (nbody, 7) body poses at the reference step and
    ``body_poses`` (K, nbody, 7) at the K target steps (include the reference step to get step 0).
    Each query reads the body id of its nearest pixel and depth bilinearly when the four neighbours show
    the same body (else the nearest pixel), so integer pixel centres are exact.

    Returns ``(points (K, N, 3) float32 in the reference camera frame (OpenCV), valid (K, N) bool)``;
    invalid (zeros) where the pixel is outside the image, shows no body or a render-only geom, or has no
    depth. Static background (the world body) is valid and stays fixed.
    """
    query = np.asarray(query_pixels, dtype=np.float64).reshape(-1, 2)
    depth = np.asarray(depth, dtype=np.float64)
    segmentation = np.asarray(segmentation)
    if depth.shape != segmentation.shape or depth.ndim != 2:
        raise ValueError(
            f"depth/segmentation: expected the same (H, W) shape, got {depth.shape} and {segmentation.shape}"
        )
    reference = _check_poses("reference_body_poses", reference_body_poses, 2)
    targets = _check_poses("body_poses", body_poses, 3)
    if targets.shape[1] != reference.shape[0]:
        raise ValueError(f"body_poses: expected {reference.shape[0]} bodies per step, got {targets.shape[1]}")
    height, width = depth.shape
    u, v = query[:, 0], query[:, 1]
    inside = np.isfinite(u) & np.isfinite(v) & (u > -0.5) & (v > -0.5) & (u < width - 0.5) & (v < height - 0.5)
    column = np.clip(np.rint(np.where(inside, u, 0)), 0, width - 1).astype(np.int64)
    row = np.clip(np.rint(np.where(inside, v, 0)), 0, height - 1).astype(np.int64)
    body = segmentation[row, column].astype(np.int64)
    z = _depth_at(depth, segmentation, u, v, row, column)
    valid = inside & (body != BACKGROUND_ID) & (body != RENDER_ONLY_ID) & (body >= 0) & np.isfinite(z) & (z > 0)
    body = np.where(valid, body, 0)

    pose = np.asarray(cam_to_world, dtype=np.float64)
    world = unproject(query, z, intrinsics) @ pose[:3, :3].T + pose[:3, 3]  # (N, 3)
    rotation_ref = quaternion_to_matrix(reference[body, 3:])  # (N, 3, 3)
    local = np.einsum("nji,nj->ni", rotation_ref, world - reference[body, :3])  # R^T (p - x)
    rotation_later = quaternion_to_matrix(targets[:, body, 3:])  # (K, N, 3, 3)
    later = np.einsum("knij,nj->kni", rotation_later, local) + targets[:, body, :3]
    in_camera = (later - pose[:3, 3]) @ pose[:3, :3]  # world -> reference camera: R^T (p - t)
    valid_k = np.broadcast_to(valid, in_camera.shape[:2])
    points = np.where(valid_k[..., None], in_camera, 0.0).astype(np.float32)
    return points, valid_k.copy()


def _depth_at(
    depth: np.ndarray, segmentation: np.ndarray, u: np.ndarray, v: np.ndarray, row: np.ndarray, column: np.ndarray
) -> np.ndarray:
    """Bilinear depth where the 4 neighbours show one body (a single smooth surface), else nearest."""
    height, width = depth.shape
    nearest = depth[row, column]
    u0 = np.clip(np.floor(np.nan_to_num(u)), 0, max(width - 2, 0)).astype(np.int64)
    v0 = np.clip(np.floor(np.nan_to_num(v)), 0, max(height - 2, 0)).astype(np.int64)
    u1, v1 = np.minimum(u0 + 1, width - 1), np.minimum(v0 + 1, height - 1)
    du = np.clip(np.nan_to_num(u) - u0, 0, 1)
    dv = np.clip(np.nan_to_num(v) - v0, 0, 1)
    corners_body = np.stack([segmentation[v0, u0], segmentation[v0, u1], segmentation[v1, u0], segmentation[v1, u1]])
    corners = np.stack([depth[v0, u0], depth[v0, u1], depth[v1, u0], depth[v1, u1]])
    weights = np.stack([(1 - du) * (1 - dv), du * (1 - dv), (1 - du) * dv, du * dv])
    same_surface = np.all(corners_body == segmentation[row, column], axis=0) & np.all(corners > 0, axis=0)
    return np.where(same_surface, np.sum(corners * weights, axis=0), nearest)
