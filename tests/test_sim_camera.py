"""Camera conventions of rendered frames, checked against MuJoCo's ray casting and known body positions."""

import math

import numpy as np
import pytest

from dynaflip.geometry import project, transform_points, unproject
from dynaflip.sim.camera import (
    HALF_TURN,
    camera_to_world,
    gl_camera_vectors,
    perturb_camera_pose,
)

mujoco = pytest.importorskip("mujoco")
pytest.importorskip("metaworld")

from dynaflip.sim import MetaWorldSim  # noqa: E402

HEIGHT, WIDTH = 48, 64  # non-square on purpose: catches swapped axes


@pytest.fixture(scope="module", params=["corner", "topview", "behindGripper"])
def rendered(request):
    with MetaWorldSim("pick-place-v3", seed=2, camera=request.param, image_size=(HEIGHT, WIDTH)) as sim:
        for _ in range(5):
            sim.step(sim.expert_action())
        yield sim, sim.render(with_segmentation=True)


def test_intrinsics_follow_the_opencv_pixel_centre_convention(rendered):
    sim, frame = rendered
    fovy = math.radians(sim.model.cam_fovy[sim.model.camera(sim.camera).id])
    expected = np.array([[0.5 * HEIGHT / math.tan(fovy / 2), 0, (WIDTH - 1) / 2], [0, 0, (HEIGHT - 1) / 2], [0, 0, 1]])
    expected[1, 1] = expected[0, 0]
    np.testing.assert_allclose(frame.intrinsics, expected, rtol=1e-6)
    assert frame.intrinsics.dtype == np.float32 and frame.cam_to_world.dtype == np.float64
    assert frame.rgb.shape == (HEIGHT, WIDTH, 3) and frame.depth.shape == (HEIGHT, WIDTH)
    rotation = frame.cam_to_world[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0)


def test_every_pixel_ray_hits_what_depth_and_segmentation_say(rendered):
    """Rays through integer pixel centres, built from K and cam_to_world, hit the rendered surface."""
    sim, frame = rendered
    rows, columns = np.mgrid[1:HEIGHT:3, 1:WIDTH:3]
    pixels = np.stack([columns.ravel(), rows.ravel()], axis=-1).astype(float)
    directions = unproject(pixels, np.ones(len(pixels)), frame.intrinsics) @ frame.cam_to_world[:3, :3].T
    origin = frame.cam_to_world[:3, 3]
    geomgroup = np.array([1, 1, 1, 0, 0, 0], dtype=np.uint8)  # the groups MuJoCo renders by default
    geom = np.zeros(1, dtype=np.int32)
    distance_errors, same_body = [], []
    for (u, v), direction in zip(pixels.astype(int), directions, strict=True):
        z = frame.depth[v, u]
        # The ray's z component is 1 in the camera frame, so mj_ray's distance is the z-depth.
        hit = mujoco.mj_ray(sim.model, sim.data, origin, direction, geomgroup, 1, -1, geom)
        if hit < 0 or z <= 0:
            continue
        distance_errors.append(abs(hit - z))
        same_body.append(sim.model.geom_bodyid[geom[0]] == frame.segmentation[v, u])
    distance_errors = np.asarray(distance_errors)
    assert len(distance_errors) > 0.5 * len(pixels)
    assert np.median(distance_errors) < 1e-4
    assert np.mean(distance_errors < 3e-3) > 0.95  # the rest: silhouette edges and rendered sites
    assert np.mean(same_body) > 0.95


def test_projected_object_lands_on_the_object(rendered):
    """The puck's position projects onto the puck (or onto something in front of it)."""
    sim, frame = rendered
    state = sim.state()
    puck = sim.body_names.index("obj")
    camera_point = transform_points(np.linalg.inv(frame.cam_to_world), state["object_pos"][None])
    u, v = np.rint(project(camera_point, frame.intrinsics)[0]).astype(int)
    assert 0 <= u < WIDTH and 0 <= v < HEIGHT
    assert 0 < frame.depth[v, u] < camera_point[0, 2] + 0.03
    if sim.camera == "corner":  # in plain view there
        assert frame.segmentation[v, u] == puck
    if frame.segmentation[v, u] == puck:
        pixel = np.array([u, v], dtype=float)
        surface = transform_points(frame.cam_to_world, unproject(pixel, frame.depth[v, u], frame.intrinsics))
        assert np.linalg.norm(surface - state["object_pos"]) < 0.03  # the puck's radius


def test_world_up_points_up_in_upright_frames(rendered):
    sim, frame = rendered
    if sim.camera == "topview":
        pytest.skip("looks straight down")
    hand = sim.state()["ee_pos"]
    points = transform_points(np.linalg.inv(frame.cam_to_world), np.stack([hand, hand + np.array([0.0, 0.0, 0.1])]))
    (_, v_low), (_, v_high) = project(points, frame.intrinsics)
    assert v_high < v_low - 1


def test_corner_frames_are_the_raw_render_turned_half_way():
    with MetaWorldSim("reach-v3", seed=0, camera="corner", image_size=(HEIGHT, WIDTH)) as sim:
        frame = sim.render()
        raw_camera = sim.model.camera("corner").id
        with mujoco.Renderer(sim.model, HEIGHT, WIDTH) as raw:
            raw.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            raw.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            raw.update_scene(sim.data, camera=raw_camera)
            image = raw.render()
        raw_pose = np.eye(4)
        raw_pose[:3, :3] = sim.data.cam_xmat[raw_camera].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
    # Identical here; a few pixels may differ elsewhere (the raw camera is the average of two stereo eyes).
    assert np.mean(np.all(frame.rgb[::-1, ::-1] == image, axis=-1)) > 0.995
    np.testing.assert_allclose(frame.cam_to_world[:3, :3], raw_pose[:3, :3] @ HALF_TURN, atol=1e-12)


def test_pose_helpers_are_consistent():
    class Data:
        cam_xpos = np.array([[0.1, -0.2, 0.7]])
        cam_xmat = np.array([perturb_camera_pose(np.eye(4), pivot=np.zeros(3), azimuth_degrees=30)[:3, :3].ravel()])

    for half_turn in (False, True):
        pose = camera_to_world(Data, 0, half_turn=half_turn)
        position, forward, up = gl_camera_vectors(pose, half_turn=half_turn)
        mujoco_rotation = Data.cam_xmat[0].reshape(3, 3)
        np.testing.assert_allclose(forward, -mujoco_rotation[:, 2], atol=1e-12)
        np.testing.assert_allclose(up, mujoco_rotation[:, 1], atol=1e-12)
        np.testing.assert_allclose(position, Data.cam_xpos[0])


def test_camera_perturbation_orbits_the_pivot():
    pose = np.eye(4)
    pose[:3, 3] = [0.0, -1.0, 0.5]
    pivot = np.array([0.0, 0.0, 0.5])
    moved = perturb_camera_pose(pose, pivot=pivot, azimuth_degrees=10, elevation_degrees=-5, roll_degrees=3)
    np.testing.assert_allclose(np.linalg.norm(moved[:3, 3] - pivot), 1.0, atol=1e-12)
    np.testing.assert_allclose(moved[:3, :3].T @ moved[:3, :3], np.eye(3), atol=1e-12)
    scaled = perturb_camera_pose(pose, pivot=pivot, distance_scale=0.9)
    np.testing.assert_allclose(scaled[:3, 3], [0.0, -0.9, 0.5], atol=1e-12)
