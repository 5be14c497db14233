"""MetaWorldSim: reproducible randomisation, scripted experts, state and input checks."""

import numpy as np
import pytest

pytest.importorskip("mujoco")
pytest.importorskip("metaworld")

from dynaflip.sim import MetaWorldSim


def _initial(task, seed):
    with MetaWorldSim(task, seed=seed) as sim:
        return sim.state()


def test_same_seed_same_initial_state_and_different_seeds_differ():
    first, again, other = _initial("pick-place-v3", 5), _initial("pick-place-v3", 5), _initial("pick-place-v3", 6)
    for key in ("qpos", "qvel", "object_pos", "goal_pos", "ee_pos"):
        np.testing.assert_array_equal(first[key], again[key])
    assert np.linalg.norm(first["object_pos"] - other["object_pos"]) > 1e-3
    assert np.linalg.norm(first["goal_pos"] - other["goal_pos"]) > 1e-3


def test_reset_returns_to_the_initial_state_and_reseeds_in_place():
    fresh = _initial("pick-place-v3", 7)
    with MetaWorldSim("pick-place-v3", seed=0) as sim:
        start = sim.state()
        for _ in range(5):
            sim.step(sim.expert_action())
        sim.reset()
        np.testing.assert_array_equal(sim.state()["qpos"], start["qpos"])
        sim.reset(seed=7)
        assert sim.seed == 7
        for key in ("qpos", "object_pos", "goal_pos"):
            np.testing.assert_array_equal(sim.state()[key], fresh[key])


@pytest.mark.parametrize("task", ["reach-v3", "button-press-topdown-v3"])
def test_scripted_expert_solves_the_task(task):
    with MetaWorldSim(task, seed=1) as sim:
        for _ in range(sim.max_steps):
            info = sim.step(sim.expert_action())[-1]
            if info["success"]:
                break
        assert sim.succeeded, f"{task}: the expert did not succeed within {sim.max_steps} steps"
        assert isinstance(info["success"], bool)


def test_state_shapes_and_meaning():
    with MetaWorldSim("pick-place-v3", seed=3) as sim:
        obs = sim.reset()
        state = sim.state()
        assert obs.shape == (39,)
        np.testing.assert_allclose(state["ee_pos"], obs[:3])
        assert float(state["gripper"]) == pytest.approx(obs[3])
        assert 0.0 <= float(state["gripper"]) <= 1.0
        np.testing.assert_allclose(state["object_pos"], sim.data.body("obj").xpos)
        np.testing.assert_allclose(state["goal_pos"], obs[-3:])
        assert state["arm_joints"].shape == (7,)
        assert state["body_poses"].shape == (sim.model.nbody, 7)
        np.testing.assert_allclose(np.linalg.norm(state["body_poses"][:, 3:], axis=1), 1.0, atol=1e-9)
        assert sim.proprioception().shape == (4,) and sim.fps == pytest.approx(80.0)
        # The policy's observation is Meta-World's, goal included (goal-observable: the oracle needs it).
        np.testing.assert_array_equal(sim.observation(), obs.astype(np.float32))
        # Closing the gripper shrinks the opening.
        for _ in range(15):
            sim.step(np.array([0.0, 0.0, 0.0, 1.0]))
            later = sim.state()
            expected = np.concatenate([later["ee_pos"], later["gripper"].reshape(1)]).astype(np.float32)
            np.testing.assert_array_equal(sim.proprioception(), expected)
        assert float(sim.state()["gripper"]) < float(state["gripper"]) - 0.2


def test_reach_tasks_use_the_goal_as_the_object():
    with MetaWorldSim("reach-v3", seed=0) as sim:
        state = sim.state()
        np.testing.assert_array_equal(state["object_pos"], state["goal_pos"])


def test_bad_inputs_fail_with_clear_messages():
    with pytest.raises(ValueError, match="reach-v3"):
        MetaWorldSim("reach-v2")
    with pytest.raises(ValueError, match="camera: expected one of"):
        MetaWorldSim("reach-v3", camera="front")
    with pytest.raises(ValueError, match="image_size"):
        MetaWorldSim("reach-v3", image_size=(64,))
    with pytest.raises(ValueError, match="shift"):
        MetaWorldSim("reach-v3", shift="fog")
    with MetaWorldSim("reach-v3", seed=0, max_steps=2) as sim:
        with pytest.raises(ValueError, match="action: expected 4 finite numbers"):
            sim.step(np.zeros(3))
        sim.step(np.zeros(4))
        _, _, _, truncated, _ = sim.step(np.zeros(4))
        assert truncated
        with pytest.raises(RuntimeError, match="reset"):
            sim.step(np.zeros(4))
