"""BC input scaling: a std floor per input group and clipped standardised inputs, checked against a float64
reference, and shown on the real reach task to stop the arm running away when a near-constant input drifts."""

import numpy as np
import pytest
import torch

from dynaflip.eval.policy import BCData, BCPolicy, train_bc
from dynaflip.eval.policy.model import INPUT_CLIP, STD_FLOOR


def _inputs(rows=500, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.normal(3.0, 5.0, size=(rows, 6))
    features[:, 4] = 7.0  # never varies
    features[:, 5] = rng.normal(0.0, 1e-4, size=rows)  # almost never varies
    proprio = np.column_stack([rng.normal(0.0, 0.05, size=(rows, 3)), 1.0 - np.abs(rng.normal(0, 0.0012, rows))])
    return np.concatenate([features, proprio], axis=1)


def test_std_floor_is_per_group_and_inputs_are_clipped():
    inputs = _inputs()
    policy = BCPolicy(feature_dim=6, hidden=[8])
    policy.set_standardisation(torch.from_numpy(inputs).float())
    std = inputs.std(axis=0)  # float64 reference
    expected = std.copy()
    for group in (slice(0, 6), slice(6, 10)):
        expected[group] = np.maximum(std[group], STD_FLOOR * std[group].mean())
    np.testing.assert_allclose(policy.input_std.numpy(), expected, rtol=1e-4)
    # The gripper (std ~0.001) is floored by its own group's scale (~0.04), not by the features' (~5).
    assert 0.003 < policy.input_std[9] < 0.006 and policy.input_std[5] > 0.3
    # At rollout the gripper drifts by 0.3: 1e-6 would have made that a standardised ~250; now it is clipped.
    row = inputs[:1].copy()
    row[0, 9] -= 0.3
    scaled = policy.standardise(torch.from_numpy(row).float())
    assert float(scaled.abs().max()) == pytest.approx(INPUT_CLIP)
    assert abs(row[0, 9] - inputs[:, 9].mean()) / inputs[:, 9].std() > 200
    # A group that never varies passes unscaled; the clip can be switched off.
    flat = torch.ones(20, 10)
    unclipped = BCPolicy(feature_dim=6, hidden=[8], input_clip=None)
    unclipped.set_standardisation(flat)
    torch.testing.assert_close(unclipped.input_std, torch.ones(10))
    assert float(unclipped.standardise(flat * 1000).abs().max()) > 900
    with pytest.raises(ValueError, match="input_clip"):
        BCPolicy(feature_dim=2, input_clip=0.0)


def test_blind_policy_has_no_features_and_round_trips(tmp_path):
    proprio = _inputs()[:, 6:].astype(np.float32)
    data = BCData(inputs=proprio, actions=np.tanh(proprio * 3).astype(np.float32))
    policy, summary = train_bc(data, data, task="t", seed=0, hidden=[16], epochs=3, batch_size=64, lr=1e-3)
    assert policy.feature_dim == 0 and summary.val_loss is not None
    loaded = BCPolicy.load(policy.save(tmp_path / "blind.pt"))
    assert loaded.input_clip == INPUT_CLIP
    np.testing.assert_allclose(loaded.act(np.zeros(0), proprio[0]), policy.act(np.zeros(0), proprio[0]))


@pytest.mark.slow
def test_reach_no_longer_runs_away(tmp_path):
    """oracle:state on reach-v3 (25 + 5 demos, 100 epochs): without a floor and clip, the gripper opening
    (std 0.0012 in the demos) drifts at rollout, its standardised value passes 100 and the arm runs off
    across the table; with them, every episode ends near the goal region."""
    pytest.importorskip("mujoco")
    pytest.importorskip("metaworld")
    from dynaflip.eval.policy import DemoStore, PolicyActor, run_episode
    from dynaflip.eval.policy.features import open_encoder
    from dynaflip.sim import MetaWorldSim

    store = DemoStore(tmp_path, camera="corner", image_size=(64, 64), max_steps=200, render=False)
    oracle = open_encoder("oracle:state")
    demos = [store.record("reach-v3", seed) for seed in range(30)]
    data = [
        BCData.from_demos([oracle.state_features(d.state) for d in part], part) for part in (demos[:25], demos[25:])
    ]
    settings = {"task": "reach-v3", "seed": 0, "hidden": [256, 256, 256], "epochs": 100, "batch_size": 256, "lr": 1e-3}
    old, _ = train_bc(*data, std_floor=1e-9, input_clip=None, **settings)  # no effective floor, no clip
    new, _ = train_bc(*data, **settings)

    def rollouts(policy):
        actor = PolicyActor(oracle, policy)
        distances, largest = [], 0.0
        with MetaWorldSim("reach-v3", seed=10_000, max_steps=200) as sim:
            for episode in range(10_000, 10_010):
                record = run_episode(sim, actor, episode_seed=episode)
                row = np.concatenate([sim.observation(), sim.proprioception()])[None]
                largest = max(
                    largest, float(((torch.from_numpy(row) - policy.input_mean) / policy.input_std).abs().max())
                )
                state = sim.state()
                distances.append(0.0 if record.success else float(np.linalg.norm(state["tcp_pos"] - state["goal_pos"])))
        return np.array(distances), largest

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a rollout worker: the MLP's steps are too small to share
    try:
        old_distances, old_largest = rollouts(old)
        new_distances, _ = rollouts(new)
    finally:
        torch.set_num_threads(threads)
    assert old_largest > 100 and old_distances.max() > 0.3, "the old scaling let the arm run away"
    assert new_distances.max() < 0.3, f"an arm still ran away: {new_distances.round(2)}"
