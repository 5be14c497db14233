"""MuJoCo camera geometry in the project's conventions.

Intrinsics are OpenCV-style with pixel (u, v) = (column, row) and integer coordinates at pixel centres;
``cam_to_world`` is a 4x4 pose of an OpenCV camera frame (x right, y down, z forward). MuJoCo cameras look
along their -z axis with +y up, so R_opencv = R_mujoco @ diag(1, -1, -1). Meta-World v3's 'corner' cameras
are mounted upside down: their images are rotated 180 degrees (``img[::-1, ::-1]``), which multiplies the
rotation by diag(-1, -1, 1) (a half turn about the optical axis).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dynaflip.geometry import intrinsics_from_fov

UPSIDE_DOWN_CAMERAS = frozenset({"corner", "corner2", "corner3", "corner4"})
MUJOCO_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
HALF_TURN = np.diag([-1.0, -1.0, 1.0])


def is_upside_down(camera_name: str) -> bool:
    """Whether Meta-World v3 mounts this camera upside down (its frames are rotated 180 degrees)."""
    return camera_name in UPSIDE_DOWN_CAMERAS


def camera_id(model: Any, camera_name: str) -> int:
    """The id of a named model camera; an unknown name raises ValueError listing the cameras."""
    names = [model.camera(index).name for index in range(model.ncam)]
    if camera_name not in names:
        raise ValueError(f"camera: expected one of {names}, got {camera_name!r}")
    return names.index(camera_name)


def camera_intrinsics(model: Any, camera_index: int, *, width: int, height: int) -> np.ndarray:
    """(3, 3) float32 intrinsics of a model camera rendered at width x height (square pixels, centred)."""
    if np.any(np.asarray(model.cam_sensorsize[camera_index]) > 0):
        raise ValueError(f"camera {camera_index}: sensor-size intrinsics are not supported, only fovy")
    return intrinsics_from_fov(fovy_degrees=float(model.cam_fovy[camera_index]), width=width, height=height)


def camera_to_world(data: Any, camera_index: int, *, half_turn: bool) -> np.ndarray:
    """(4, 4) float64 OpenCV ``cam_to_world`` of a camera from ``data.cam_xpos`` / ``data.cam_xmat``.

    ``half_turn``: the image is rotated 180 degrees after rendering (upside-down cameras).
    """
    rotation = np.asarray(data.cam_xmat[camera_index], dtype=np.float64).reshape(3, 3) @ MUJOCO_TO_OPENCV
    if half_turn:
        rotation = rotation @ HALF_TURN
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = data.cam_xpos[camera_index]
    return pose


def gl_camera_vectors(cam_to_world: np.ndarray, *, half_turn: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position, forward, up) of the MuJoCo/OpenGL camera that renders the view ``cam_to_world``.

    The inverse of :func:`camera_to_world`: with ``half_turn`` the rendered image is still upside down and
    gets rotated 180 degrees afterwards.
    """
    rotation = np.asarray(cam_to_world, dtype=np.float64)[:3, :3]
    if half_turn:
        rotation = rotation @ HALF_TURN
    rotation_mujoco = rotation @ MUJOCO_TO_OPENCV
    return np.asarray(cam_to_world, dtype=np.float64)[:3, 3].copy(), -rotation_mujoco[:, 2], rotation_mujoco[:, 1]


def set_scene_camera(scene: Any, cam_to_world: np.ndarray, *, half_turn: bool) -> None:
    """Make an updated ``mjvScene`` render from ``cam_to_world`` (both stereo eyes at the camera centre; the
    headlight, which ``update_scene`` attached to the model camera, follows)."""
    position, forward, up = gl_camera_vectors(cam_to_world, half_turn=half_turn)
    for eye in (scene.camera[0], scene.camera[1]):
        eye.pos[:] = position
        eye.forward[:] = forward
        eye.up[:] = up
    for index in range(scene.nlight):
        if scene.lights[index].headlight:
            scene.lights[index].pos[:] = position
            scene.lights[index].dir[:] = forward


def axis_rotation(axis: np.ndarray, angle_degrees: float) -> np.ndarray:
    """3x3 rotation by ``angle_degrees`` about ``axis`` (right-handed, Rodrigues)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    angle = math.radians(angle_degrees)
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * cross @ cross


def closest_point_on_axis(cam_to_world: np.ndarray, point: np.ndarray) -> np.ndarray:
    """The point of the camera's optical axis (in front of it) closest to ``point`` (world)."""
    cam_to_world = np.asarray(cam_to_world, dtype=np.float64)
    centre, forward = cam_to_world[:3, 3], cam_to_world[:3, 2]
    distance = max(float(np.dot(np.asarray(point, dtype=np.float64) - centre, forward)), 1e-3)
    return centre + distance * forward


def perturb_camera_pose(
    cam_to_world: np.ndarray,
    *,
    pivot: np.ndarray,
    azimuth_degrees: float = 0.0,
    elevation_degrees: float = 0.0,
    roll_degrees: float = 0.0,
    distance_scale: float = 1.0,
) -> np.ndarray:
    """A moved camera that keeps looking at the same scene: orbit ``pivot`` (world point) by the azimuth
    (about world +z) and the elevation (about the camera's x axis), scale the distance to the pivot, then
    roll about the optical axis. Returns a new (4, 4) OpenCV ``cam_to_world``."""
    pose = np.asarray(cam_to_world, dtype=np.float64)
    pivot = np.asarray(pivot, dtype=np.float64)
    orbit = axis_rotation(np.array([0.0, 0.0, 1.0]), azimuth_degrees) @ axis_rotation(pose[:3, 0], elevation_degrees)
    rotation = orbit @ pose[:3, :3] @ axis_rotation(np.array([0.0, 0.0, 1.0]), roll_degrees)
    position = pivot + distance_scale * (orbit @ (pose[:3, 3] - pivot))
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = position
    return out
