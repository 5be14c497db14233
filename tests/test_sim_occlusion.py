"""The occlusion shift keeps the task solvable: the plate never hides the task's object or its goal, checked
against real segmentation renders and the simulator's own projection of the goal; the placement is
deterministic and the same at every resolution (so every encoder sees the same plate)."""

import math

import numpy as np
import pytest

from dynaflip.geometry import project
from dynaflip.sim.scene_edits import covered_fraction, occluder_rectangle
from dynaflip.sim.shifts import sample_shift

pytest.importorskip("mujoco")
pytest.importorskip("metaworld")

from dynaflip.sim import MetaWorldSim
from dynaflip.sim.frame import RENDER_ONLY_ID

SIZE = (64, 64)
EPISODES = range(10_000, 10_006)  # the first evaluation episodes of the configs


def _object_bodies(sim):
    return [body for body in range(sim.model.nbody) if sim.object_body in sim._ancestors(body)]


@pytest.mark.parametrize("task", ["button-press-topdown-v3", "drawer-close-v3", "pick-place-v3", "reach-v3"])
def test_occluder_never_hides_the_object_or_the_goal(task):
    hidden_before_the_fix = 0
    with MetaWorldSim(task, seed=EPISODES[0], image_size=SIZE) as sim:
        for episode in EPISODES:
            sim.reset(seed=episode)
            sim.set_shift(None)
            plain = sim.render(with_segmentation=True)
            sim.set_shift("occlusion", seed=episode)  # as a rollout draws it
            occluded = sim.render(with_segmentation=True)
            plate = occluded.segmentation == RENDER_ONLY_ID
            assert 0.12 < plate.mean() < 0.3, "the plate keeps its documented size"
            # The goal, projected with the camera the frame reports, is never under the plate.
            pose = occluded.cam_to_world
            goal = (sim.state()["goal_pos"][None] - pose[:3, 3]) @ pose[:3, :3]  # in the camera frame
            u, v = np.round(project(goal, occluded.intrinsics)[0]).astype(int)
            if 0 <= u < SIZE[1] and 0 <= v < SIZE[0]:
                assert not plate[v, u], f"{task} episode {episode}: the plate hides the goal"
            if sim.object_body is None:
                continue
            bodies = _object_bodies(sim)
            visible, kept = np.isin(plain.segmentation, bodies).sum(), np.isin(occluded.segmentation, bodies).sum()
            assert visible > 0
            assert kept >= 0.25 * visible, f"{task} episode {episode}: {kept} of {visible} object pixels left"
            # The placement before the fix (no targets) on the same frame: the plate hid the object.
            legacy = sim._renderer.render(sim.data, shift=sim.shift, targets=None, with_segmentation=True)
            hidden_before_the_fix += int(np.isin(legacy.segmentation, bodies).sum() == 0)
    if task != "reach-v3":
        assert hidden_before_the_fix >= 1, "these episodes include one the old placement hid completely"


def test_placement_is_deterministic_resolution_free_and_unchanged_when_nothing_is_hidden():
    params = sample_shift("occlusion", seed=10_000).params
    assert occluder_rectangle(params, image_size=(64, 64)) == occluder_rectangle(params, image_size=(64, 64))
    # No targets: the sampled placement of the shift's documentation (centre fractions of the free range).
    u0, v0, u1, v1 = occluder_rectangle(params, image_size=(224, 224))
    height = min(math.sqrt(params["area_fraction"] * 224 * 224 / params["aspect"]), 0.9 * 224)
    width = min(params["aspect"] * height, 0.9 * 224)
    assert (u1 - u0, v1 - v0) == pytest.approx((width, height))
    assert (u0, v0) == pytest.approx(
        (params["centre"][0] * (224 - width) - 0.5, params["centre"][1] * (224 - height) - 0.5)
    )
    # A target under the sampled plate moves it; the same target (in image fractions) at another resolution
    # moves it to the same place.
    centre_u, centre_v = (u0 + u1) / 2, (v0 + v1) / 2
    target = (centre_u - 5, centre_v - 5, centre_u + 5, centre_v + 5)
    moved = occluder_rectangle(params, image_size=(224, 224), boxes=[target])
    assert covered_fraction(moved, target) <= 0.5 and moved != (u0, v0, u1, v1)

    def to_fraction(box, size):
        return [(value + 0.5) / size for value in box]

    small_target = [(value + 0.5) * 64 / 224 - 0.5 for value in target]
    small = occluder_rectangle(params, image_size=(64, 64), boxes=[tuple(small_target)])
    np.testing.assert_allclose(to_fraction(small, 64), to_fraction(moved, 224), atol=1e-9)


def test_covered_fraction_matches_a_pixel_count():
    rng = np.random.default_rng(0)
    grid = (np.arange(400) + 0.5) / 400 * 40  # sample points over a 40 x 40 image
    us, vs = np.meshgrid(grid, grid)
    for _ in range(50):
        rectangle = np.sort(rng.uniform(0, 40, 2)).tolist(), np.sort(rng.uniform(0, 40, 2)).tolist()
        rectangle = (rectangle[0][0], rectangle[1][0], rectangle[0][1], rectangle[1][1])
        box = np.sort(rng.uniform(0, 40, 2)).tolist(), np.sort(rng.uniform(0, 40, 2)).tolist()
        box = (box[0][0], box[1][0], box[0][1], box[1][1])
        in_box = (us >= box[0]) & (us <= box[2]) & (vs >= box[1]) & (vs <= box[3])
        in_both = in_box & (us >= rectangle[0]) & (us <= rectangle[2]) & (vs >= rectangle[1]) & (vs <= rectangle[3])
        if in_box.sum() < 400:
            continue
        expected = in_both.sum() / in_box.sum()
        assert covered_fraction(rectangle, box, centre=False) == pytest.approx(expected, abs=0.03)
        centre_inside = (
            rectangle[0] <= (box[0] + box[2]) / 2 <= rectangle[2]
            and rectangle[1] <= (box[1] + box[3]) / 2 <= rectangle[3]
        )
        assert (covered_fraction(rectangle, box) == 1.0) or not centre_inside
