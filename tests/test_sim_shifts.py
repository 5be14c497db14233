"""OOD shifts: deterministic parameters, visible in pixels, invisible to physics, exactly removable."""

import numpy as np
import pytest

from dynaflip.sim.frame import RENDER_ONLY_ID
from dynaflip.sim.scene_edits import place_distractors
from dynaflip.sim.shifts import ID, SHIFTS, Shift, sample_shift

pytest.importorskip("mujoco")
pytest.importorskip("metaworld")

from dynaflip.sim import MetaWorldSim

SIZE = (64, 64)
# Mean absolute RGB difference a shift must cause (0-255 scale); distractors are small objects.
MIN_CHANGE = {"camera": 3.0, "lighting": 3.0, "table": 1.0, "distractors": 0.15, "occlusion": 3.0}


def test_parameters_are_deterministic_per_name_and_seed():
    assert ID is None
    assert set(SHIFTS) == set(MIN_CHANGE)
    for name, spec in SHIFTS.items():
        assert spec.description and spec.ranges
        assert sample_shift(name, seed=3).params == sample_shift(name, seed=3).params
        assert sample_shift(name, seed=3).params != sample_shift(name, seed=4).params
    with pytest.raises(ValueError, match="shift: expected one of"):
        sample_shift("fog", seed=0)


def test_parameters_stay_in_their_documented_ranges():
    for seed in range(20):
        camera = sample_shift("camera", seed=seed).params
        low, high = SHIFTS["camera"].ranges["azimuth_degrees"]
        assert low <= abs(camera["azimuth_degrees"]) <= high
        occlusion = sample_shift("occlusion", seed=seed).params
        assert 0.15 <= occlusion["area_fraction"] <= 0.25
        distractors = sample_shift("distractors", seed=seed).params
        assert 3 <= distractors["count"] <= 5


@pytest.fixture(scope="module")
def sims():
    with (
        MetaWorldSim("pick-place-v3", seed=0, image_size=SIZE) as plain,
        MetaWorldSim("pick-place-v3", seed=0, image_size=SIZE) as shifted,
    ):
        yield plain, shifted


@pytest.mark.parametrize("name", sorted(MIN_CHANGE))
def test_shift_changes_pixels_but_not_physics_and_is_removable(sims, name):
    plain, shifted = sims
    plain.reset()
    shifted.reset()
    before = shifted.render(with_segmentation=True)
    shifted.set_shift(name, seed=1)
    for _ in range(3):  # render between identical steps of both sims
        changed = shifted.render(with_segmentation=True)
        action = plain.expert_action()
        plain.step(action)
        shifted.step(action)
    np.testing.assert_array_equal(shifted.data.qpos, plain.data.qpos)
    np.testing.assert_array_equal(shifted.data.qvel, plain.data.qvel)
    shifted.reset()
    changed = shifted.render(with_segmentation=True)
    assert np.mean(np.abs(changed.rgb.astype(int) - before.rgb)) > MIN_CHANGE[name]
    shifted.set_shift(None)
    after = shifted.render(with_segmentation=True)
    np.testing.assert_array_equal(after.rgb, before.rgb)
    np.testing.assert_array_equal(after.depth, before.depth)
    np.testing.assert_array_equal(after.segmentation, before.segmentation)
    np.testing.assert_array_equal(after.cam_to_world, before.cam_to_world)


def test_camera_shift_moves_the_reported_pose(sims):
    _, sim = sims
    sim.reset()
    sim.set_shift(None)
    base = sim.render().cam_to_world
    sim.set_shift("camera", seed=2)
    moved = sim.render().cam_to_world
    sim.set_shift(None)
    assert 0.02 < np.linalg.norm(moved[:3, 3] - base[:3, 3]) < 0.6


def test_occluder_is_seen_by_depth_and_segmentation(sims):
    _, sim = sims
    sim.reset()
    sim.set_shift("occlusion", seed=5)
    frame = sim.render(with_segmentation=True)
    sim.set_shift(None)
    occluded = frame.segmentation == RENDER_ONLY_ID
    assert 0.12 < occluded.mean() < 0.3
    distance = sample_shift("occlusion", seed=5).params["distance"]
    np.testing.assert_allclose(frame.depth[occluded], distance - 0.002, atol=1e-3)  # the plate's front face


def test_distractors_render_and_keep_clear_of_the_task_objects(sims):
    _, sim = sims
    sim.reset()
    shift = sample_shift("distractors", seed=0)
    sim.set_shift(shift)
    frame = sim.render(with_segmentation=True)
    sim.set_shift(None)
    assert np.any(frame.segmentation == RENDER_ONLY_ID)
    obstacles = np.array([[0.0, 0.6, 0.05]])
    placed = place_distractors(shift.params, obstacles=obstacles)
    assert 1 <= len(placed) <= shift.params["count"]
    for item in placed:
        reach = item["half_size"] * np.sqrt(2) + 0.05 + shift.params["clearance"]
        assert np.linalg.norm(np.asarray(item["xy"]) - obstacles[0, :2]) >= reach - 1e-12


def test_a_shift_object_can_be_passed_directly():
    shift = sample_shift("table", seed=9)
    assert isinstance(shift, Shift) and shift.to_json()["name"] == "table"
    with MetaWorldSim("reach-v3", seed=0, image_size=SIZE, shift=shift) as sim:
        assert sim.shift is shift
