"""Lifting 2D tracks to 3D against closed-form scenes: planes seen by a pinhole camera, moving points, and
a moving camera whose motion must cancel."""

import numpy as np
import pytest

from dynaflip.geometry import (
    bilinear_depth,
    intrinsics_from_fov,
    lift_tracks,
    project,
    query_grid,
    relative_transform,
    scale_intrinsics,
    transform_points,
    unproject,
)

SIZE = 64
K = intrinsics_from_fov(fovy_degrees=55.0, width=SIZE, height=SIZE)


def plane_depth(normal, offset, intrinsics, size=SIZE):
    """Exact z-depth image of the plane n . X = d: z = d / (n . K^-1 [u, v, 1])."""
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(intrinsics.astype(np.float64)).T
    return offset / (rays @ np.asarray(normal, dtype=np.float64))


def rotation(axis, degrees):
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    angle = np.radians(degrees)
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew


def pose(rotation_matrix, translation):
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rotation_matrix, translation
    return out


def test_intrinsics_principal_point_is_the_image_centre_in_pixel_centre_coordinates():
    assert K[0, 2] == pytest.approx((SIZE - 1) / 2) and K[1, 2] == pytest.approx((SIZE - 1) / 2)
    # The optical axis projects to the centre; a point on the top edge of the frustum to v = -0.5.
    top = np.array([0.0, -np.tan(np.radians(55.0) / 2), 1.0])
    assert project(top, K)[1] == pytest.approx(-0.5, abs=1e-5)


def test_project_unproject_round_trip():
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, SIZE - 1, size=(50, 2))
    depth = rng.uniform(0.2, 5.0, size=50)
    np.testing.assert_allclose(project(unproject(pixels, depth, K), K), pixels, atol=1e-9)


def test_bilinear_depth_is_exact_on_a_fronto_parallel_plane_and_interpolates_linear_ramps():
    depth = np.full((SIZE, SIZE), 1.25)
    points = np.array([[3.3, 7.7], [0.0, 0.0], [SIZE - 1, SIZE - 1], [10.5, 20.25]])
    values, valid = bilinear_depth(depth, points)
    assert valid.all() and np.allclose(values, 1.25)
    ramp = 1.0 + 0.01 * np.arange(SIZE)[None, :] + 0.02 * np.arange(SIZE)[:, None]
    values, valid = bilinear_depth(ramp, points, max_relative_spread=None)
    assert valid.all()
    np.testing.assert_allclose(values, 1.0 + 0.01 * points[:, 0] + 0.02 * points[:, 1], atol=1e-12)


def test_bilinear_depth_rejects_outside_missing_and_edge_straddling_points():
    depth = np.full((SIZE, SIZE), 1.0)
    depth[:, 40:] = 3.0  # a depth edge between columns 39 and 40
    depth[5, 5] = 0.0  # missing depth
    depth[6, 20] = np.nan
    points = np.array([[-1.0, 3.0], [10.0, SIZE + 0.2], [5.2, 4.8], [19.6, 6.3], [39.5, 30.0], [30.0, 30.0]])
    _, valid = bilinear_depth(depth, points)
    assert valid.tolist() == [False, False, False, False, False, True]


def test_lifting_a_tilted_plane_recovers_the_true_points():
    normal = np.array([0.0, -0.3, 1.0])
    depth = plane_depth(normal, 1.5, K)
    query = query_grid(grid_size=8, width=SIZE, height=SIZE)
    points, valid = lift_tracks(query[None], np.ones((1, len(query)), bool), [depth], K)
    assert valid.all()
    # Each lifted point lies on the plane and projects back onto its track.
    np.testing.assert_allclose(points[0] @ normal, 1.5, rtol=2e-3)
    np.testing.assert_allclose(project(points[0], K), query, atol=1e-3)


def test_moving_points_seen_by_a_static_camera():
    """A fronto-parallel plane translating in 3D: lifted points equal the closed-form positions."""
    query = query_grid(grid_size=6, width=SIZE, height=SIZE, margin=0.2)
    reference = unproject(query, np.full(len(query), 2.0), K)
    motion = np.array([[0, 0, 0], [0.05, 0.0, 0.0], [0.05, -0.04, 0.0], [0.05, -0.04, -0.3]])
    truth = reference[None] + motion[:, None]
    tracks = project(truth, K)
    depths = [np.full((SIZE, SIZE), 2.0 + m[2]) for m in motion]
    points, valid = lift_tracks(tracks, np.ones(tracks.shape[:2], bool), depths, K)
    assert valid.all()
    np.testing.assert_allclose(points, truth, atol=1e-5)


def test_camera_motion_is_removed_for_a_static_scene():
    """Static world points seen from a moving camera lift to the same reference-frame points at every step."""
    world_normal, world_offset = np.array([0.0, 0.0, 1.0]), 3.0  # the plane z = 3 in world coordinates
    poses = [
        pose(np.eye(3), [0, 0, 0]),
        pose(rotation([0, 1, 0], 4.0), [0.05, 0.0, 0.1]),
        pose(rotation([1, 0.5, 0], -5.0), [-0.05, 0.08, 0.2]),
    ]
    query = query_grid(grid_size=5, width=SIZE, height=SIZE, margin=0.25)
    depth0 = plane_depth(world_normal, world_offset, K)
    world_points = transform_points(
        poses[0], unproject(query, bilinear_depth(depth0, query, max_relative_spread=None)[0], K)
    )
    tracks, depths = [], []
    for cam_to_world in poses:
        world_to_cam = np.linalg.inv(cam_to_world)
        tracks.append(project(transform_points(world_to_cam, world_points), K))
        # The plane in this camera's frame: n_c = R^T n, d_c = d - n . t
        normal_c = cam_to_world[:3, :3].T @ world_normal
        depths.append(plane_depth(normal_c, world_offset - world_normal @ cam_to_world[:3, 3], K))
    tracks = np.stack(tracks)
    points, valid = lift_tracks(tracks, np.ones(tracks.shape[:2], bool), depths, K, cam_to_world=np.stack(poses))
    assert valid.all()
    for step in range(1, len(poses)):
        np.testing.assert_allclose(points[step], points[0], atol=2e-3)
    # Without the poses, the camera's motion shows up as (false) scene flow.
    raw, _ = lift_tracks(tracks, np.ones(tracks.shape[:2], bool), depths, K)
    assert np.abs(raw[2] - raw[0]).max() > 0.05


def test_invisible_points_are_zero_and_invalid():
    query = query_grid(grid_size=3, width=SIZE, height=SIZE)
    visibility = np.ones((2, 9), bool)
    visibility[1, 4] = False
    points, valid = lift_tracks(np.stack([query, query]), visibility, [np.ones((SIZE, SIZE))] * 2, K)
    assert not valid[1, 4] and np.all(points[1, 4] == 0) and valid.sum() == 17


def test_relative_transform_composes_poses():
    a = pose(rotation([0, 0, 1], 30), [1, 2, 3])
    b = pose(rotation([1, 0, 0], -20), [0, 1, 0])
    point_in_b = np.array([0.3, -0.2, 1.0])
    world = transform_points(b, point_in_b)
    np.testing.assert_allclose(
        transform_points(relative_transform(a, b), point_in_b), transform_points(np.linalg.inv(a), world)
    )


def test_scaled_intrinsics_match_a_resized_image():
    point = np.array([0.1, -0.05, 1.3])
    u, v = project(point, K)
    half = scale_intrinsics(K, scale_x=0.5, scale_y=0.5)
    np.testing.assert_allclose(project(point, half), [(u + 0.5) * 0.5 - 0.5, (v + 0.5) * 0.5 - 0.5], atol=1e-5)


def test_lift_tracks_checks_its_inputs():
    with pytest.raises(ValueError, match="depths: expected 2 depth maps"):
        lift_tracks(np.zeros((2, 4, 2)), np.ones((2, 4), bool), [np.ones((8, 8))], K)
    with pytest.raises(ValueError, match=r"cam_to_world: expected shape \(2, 4, 4\)"):
        lift_tracks(np.zeros((2, 4, 2)), np.ones((2, 4), bool), [np.ones((8, 8))] * 2, K, cam_to_world=np.eye(4)[None])
