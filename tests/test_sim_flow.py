"""Ground-truth 3D flow: exact on synthetic poses; on a real reach episode, hand points follow the hand."""

import numpy as np
import pytest

from dynaflip.geometry import project, transform_points, unproject
from dynaflip.sim.frame import BACKGROUND_ID, RENDER_ONLY_ID
from dynaflip.sim.ground_truth import ground_truth_flow, quaternion_to_matrix

SIZE = 96


def _pose(position, quaternion):
    return np.array([*position, *quaternion], dtype=float)


def test_rigid_motion_of_a_synthetic_body_is_reproduced_exactly():
    intrinsics = np.array([[50.0, 0, 15.5], [0, 50.0, 11.5], [0, 0, 1]])
    cam_to_world = np.eye(4)
    cam_to_world[:3, 3] = [0.0, 0.0, -1.0]
    depth = np.full((24, 32), 1.0)
    segmentation = np.zeros((24, 32), dtype=np.int32)
    segmentation[:, 16:] = 1  # right half: body 1; left half: the static world
    segmentation[0, 0], segmentation[0, 31] = BACKGROUND_ID, RENDER_ONLY_ID
    half_turn_z = [np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)]  # 90 degrees about z
    reference = np.stack([_pose([0, 0, 0], [1, 0, 0, 0]), _pose([0.1, 0.0, 0.0], [1, 0, 0, 0])])
    later = np.stack([reference, np.stack([reference[0], _pose([0.1, 0.2, 0.0], half_turn_z)])])
    query = np.array([[3.0, 5.0], [20.0, 7.0], [20.4, 7.3], [0.0, 0.0], [31.0, 0.0], [40.0, 3.0]])
    points, valid = ground_truth_flow(
        query,
        depth=depth,
        segmentation=segmentation,
        intrinsics=intrinsics,
        cam_to_world=cam_to_world,
        reference_body_poses=reference,
        body_poses=later,
    )
    assert points.shape == (2, 6, 3) and points.dtype == np.float32
    np.testing.assert_array_equal(valid, [[True, True, True, False, False, False]] * 2)
    seen = unproject(query[:3], np.ones(3), intrinsics)
    np.testing.assert_allclose(points[0, :3], seen, atol=1e-6)  # step 0 = the reference itself
    np.testing.assert_allclose(points[1, 0], seen[0], atol=1e-6)  # the world stays put
    world = seen[1:3] + cam_to_world[:3, 3]
    rotation = quaternion_to_matrix(np.array(half_turn_z))
    expected = (world - [0.1, 0, 0]) @ rotation.T + [0.1, 0.2, 0.0] - cam_to_world[:3, 3]
    np.testing.assert_allclose(points[1, 1:3], expected, atol=1e-6)
    assert np.all(points[:, 3:] == 0)


def test_bad_pose_shapes_are_named():
    with pytest.raises(ValueError, match="body_poses"):
        ground_truth_flow(
            np.zeros((1, 2)),
            depth=np.ones((4, 4)),
            segmentation=np.zeros((4, 4), dtype=np.int32),
            intrinsics=np.eye(3),
            cam_to_world=np.eye(4),
            reference_body_poses=np.zeros((2, 7)),
            body_poses=np.zeros((2, 7)),
        )


@pytest.fixture(scope="module")
def reach_episode():
    pytest.importorskip("mujoco")
    pytest.importorskip("metaworld")
    from dynaflip.sim import MetaWorldSim

    with MetaWorldSim("reach-v3", seed=4, image_size=(SIZE, SIZE)) as sim:
        frames, states = [], []
        for _ in range(25):
            frames.append(sim.render(with_segmentation=True))
            states.append(sim.state())
            sim.step(sim.expert_action())
        yield sim, frames, states


def test_hand_points_follow_the_hand_and_the_background_stays(reach_episode):
    sim, frames, states = reach_episode
    body_names = sim.body_names
    reference, steps = frames[0], [0, 8, 16, 24]
    # The wrist link, the hand plate and the hand are welded together (no joints below right_l6).
    wrist = [body_names.index(name) for name in ("right_l6", "right_hand", "hand")]
    assert all(sim.model.body_jntnum[body] == 0 for body in wrist[1:])
    rows, columns = np.nonzero(np.isin(reference.segmentation, wrist))
    static_rows, static_columns = np.nonzero(reference.segmentation == body_names.index("tablelink"))
    assert len(rows) >= 5 and len(static_rows) >= 50
    query = np.concatenate([np.stack([columns, rows], -1), np.stack([static_columns, static_rows], -1)[::10]])
    points, valid = ground_truth_flow(
        query.astype(float),
        depth=reference.depth,
        segmentation=reference.segmentation,
        intrinsics=reference.intrinsics,
        cam_to_world=reference.cam_to_world,
        reference_body_poses=states[0]["body_poses"],
        body_poses=np.stack([states[step]["body_poses"] for step in steps]),
    )
    assert valid.all()
    world = transform_points(reference.cam_to_world, points.astype(np.float64))  # (K, N, 3)
    on_hand = slice(0, len(rows))
    moved = np.linalg.norm(states[steps[-1]]["ee_pos"] - states[0]["ee_pos"])
    assert moved > 0.05, "the hand should move in a reach episode"
    hand = body_names.index("hand")
    for k, step in enumerate(steps):
        # Mostly a translation by the end effector's displacement (the hand turns by up to ~5 degrees) ...
        hand_shift = states[step]["ee_pos"] - states[0]["ee_pos"]
        deviation = np.linalg.norm(world[k, on_hand] - world[0, on_hand] - hand_shift, axis=-1)
        assert np.median(deviation) < 0.015 and deviation.max() < 0.03
        # ... and exactly the hand's rigid motion, though each point was carried by its own body's pose.
        start, now = states[0]["body_poses"][hand], states[step]["body_poses"][hand]
        local = (world[0, on_hand] - start[:3]) @ quaternion_to_matrix(start[3:])
        np.testing.assert_allclose(world[k, on_hand], local @ quaternion_to_matrix(now[3:]).T + now[:3], atol=1e-5)
    np.testing.assert_allclose(
        points[:, len(rows) :], np.broadcast_to(points[0, len(rows) :], points[:, len(rows) :].shape), atol=1e-6
    )

    # Where the moved hand points project in the last frame, that frame shows the hand at that depth.
    last = frames[steps[-1]]
    pixels = np.rint(project(points[-1, on_hand].astype(np.float64), reference.intrinsics)).astype(int)
    inside = (pixels >= 0).all(axis=1) & (pixels < SIZE).all(axis=1)
    shown = last.segmentation[pixels[inside, 1], pixels[inside, 0]]
    assert inside.mean() > 0.9 and np.isin(shown, wrist).mean() > 0.7


def test_background_and_render_only_pixels_are_invalid():
    pytest.importorskip("mujoco")
    pytest.importorskip("metaworld")
    from dynaflip.sim import MetaWorldSim

    with MetaWorldSim("reach-v3", seed=0, image_size=(48, 48), shift="occlusion", shift_seed=2) as sim:
        frame = sim.render(with_segmentation=True)
        poses = sim.state()["body_poses"]
    rows, columns = np.nonzero(frame.segmentation == RENDER_ONLY_ID)
    query = np.stack([columns, rows], -1).astype(float)
    _, valid = ground_truth_flow(
        query,
        depth=frame.depth,
        segmentation=frame.segmentation,
        intrinsics=frame.intrinsics,
        cam_to_world=frame.cam_to_world,
        reference_body_poses=poses,
        body_poses=poses[None],
    )
    assert len(query) > 0 and not valid.any()
