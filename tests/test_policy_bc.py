"""The BC policy, its training, the demo store and the success aggregation, without a simulator."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dynaflip.config import load_config
from dynaflip.eval.policy import BCData, BCPolicy, Demo, DemoStore, PolicyConfig, RolloutRecord, train_bc, validate
from dynaflip.eval.policy.aggregate import success_rows
from dynaflip.eval.stats import wilson_interval
from dynaflip.sim.tasks import TASKS
from tests.helpers.policy_settings import QUICK_CONFIG


def _demos(count, *, steps=40, dim=6, seed=0):
    """Demos whose expert action is a fixed linear function of [features ; proprio]."""
    rng = np.random.default_rng(seed)
    weights = np.random.default_rng(99).normal(size=(dim + 4, 4)).astype(np.float32) / 3
    features, demos = [], []
    for index in range(count):
        feats = rng.normal(size=(steps, dim)).astype(np.float32) * 5 + 3  # unstandardised on purpose
        proprio = rng.uniform(-0.5, 0.5, size=(steps, 4)).astype(np.float32)
        actions = np.tanh(np.concatenate([(feats - 3) / 5, proprio], axis=1) @ weights).astype(np.float32)
        demos.append(Demo("reach-v3", index, None, proprio, actions, np.zeros(steps, bool)))
        features.append(feats)
    return features, demos


def test_bc_learns_the_expert_mapping_and_keeps_the_best_epoch():
    features, demos = _demos(8)
    train, val = BCData.from_demos(features[:6], demos[:6]), BCData.from_demos(features[6:], demos[6:])
    assert len(train) == 240 and train.inputs.shape == (240, 10)
    kwargs = {"task": "reach-v3", "hidden": [64, 64, 64], "epochs": 60, "batch_size": 32, "lr": 3e-3}
    policy, summary = train_bc(train, val, seed=0, **kwargs)
    baseline = float(np.mean(val.actions**2))  # predicting zero
    assert summary.val_loss < 0.2 * baseline and 1 <= summary.best_epoch <= 60
    _, repeat = train_bc(train, val, seed=0, **kwargs)
    assert repeat.val_loss == summary.val_loss  # the seed fixes init and batch order
    _, other = train_bc(train, val, seed=1, **kwargs)
    assert other.val_loss != summary.val_loss
    # The standardisation travels with the policy: it acts on raw features.
    np.testing.assert_allclose(policy.input_mean.numpy(), train.inputs.mean(0), rtol=1e-4, atol=1e-4)
    action = policy.act(features[7][0], demos[7].proprio[0])
    assert action.shape == (4,) and np.all(np.abs(action) <= 1.0)
    np.testing.assert_allclose(action, np.clip(demos[7].actions[0], -1, 1), atol=0.35)


def test_policy_round_trips_through_a_file(tmp_path):
    policy = BCPolicy(feature_dim=5, hidden=[8, 8, 8])
    policy.set_standardisation(torch.randn(50, 9) * 3 + 1)
    path = policy.save(tmp_path / "p" / "seed0.pt", extra={"task": "reach-v3"})
    loaded = BCPolicy.load(path)
    assert loaded.hidden == [8, 8, 8] and len([m for m in loaded.mlp if isinstance(m, torch.nn.Linear)]) == 4
    inputs = torch.randn(3, 9)
    torch.testing.assert_close(loaded(inputs), policy(inputs))
    with pytest.raises(ValueError, match="expected 5 features"):
        loaded.act(np.zeros(7), np.zeros(4))


def test_bc_data_and_training_reject_bad_input():
    features, demos = _demos(2)
    with pytest.raises(ValueError, match="feature rows"):
        BCData.from_demos([features[0][:-1]], demos[:1])
    with pytest.raises(ValueError, match="one feature array per demo"):
        BCData.from_demos(features, demos[:1])
    with pytest.raises(ValueError, match="validation"):
        train_bc(
            BCData.from_demos(features, demos), None, task="t", seed=0, hidden=[4], epochs=1, batch_size=8, lr=1e-3
        )


def test_demo_store_round_trip_and_setting_key(tmp_path):
    store = DemoStore(tmp_path, camera="corner", image_size=(64, 64), max_steps=200)
    assert store.setting.endswith("-corner-64x64-h200") and store.setting.startswith("mw")
    other = DemoStore(tmp_path, camera="corner", image_size=(96, 96), max_steps=200)
    assert other.path("reach-v3", 1) != store.path("reach-v3", 1)
    assert store.dataset_id("reach-v3", 1) != other.dataset_id("reach-v3", 1)
    assert not store.has("reach-v3", 1)
    path = store.path("reach-v3", 1)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable demo file"):
        store.load("reach-v3", 1)


def _record(task, split, seed, episode, success):
    return RolloutRecord(task, split, seed, 10_000 + 1000 * seed + episode, success, 10, 5 if success else None, 0.1)


def test_success_rows_give_bootstrap_intervals_over_seeds_and_episodes_with_n():
    outcomes = {("a", 0): [1, 1, 0, 0, 1, 0], ("a", 1): [1, 1, 1, 0, 1, 1], ("b", 0): [0] * 6, ("b", 1): [1] + [0] * 5}
    records = [_record(t, "id", s, e, bool(x)) for (t, s), xs in outcomes.items() for e, x in enumerate(xs)]
    rows = {row.group: row for row in success_rows(records, tasks=["a", "b"], splits=["id"], seeds=[0, 1])}
    a, wilson = rows["a"], wilson_interval(8, 12)
    assert a.mean == pytest.approx(8 / 12) and a.values == pytest.approx([0.5, 5 / 6])
    assert a.n == {"seeds": 2, "episodes": 6}
    assert 0.0 <= a.low <= wilson[1] and wilson[2] <= a.high <= 1.0  # at least the Wilson interval of its rollouts
    assert rows["mean"].mean == pytest.approx(9 / 24) and rows["mean"].values == pytest.approx([0.25, 0.5])
    assert rows["mean"].n == {"tasks": 2, "seeds": 2, "episodes": 6} and rows["mean"].has_interval
    assert rows["iqm"].has_interval and 0.0 <= rows["iqm"].low < rows["iqm"].high <= 1.0
    with pytest.raises(ValueError, match="no rollouts of task 'b'"):
        success_rows(records[:12], tasks=["a", "b"], splits=["id"], seeds=[0, 1])


def test_episode_seeds_differ_per_bc_seed_and_depend_only_on_the_config():
    config = validate(load_config(PolicyConfig, overrides=["bc.seeds=[0, 1, 2]", "rollout.episodes=5"]))
    seeds = {seed: config.episode_seeds(seed) for seed in (0, 1, 2)}
    assert seeds[0] == list(range(10_000, 10_005)) and seeds[2] == list(range(12_000, 12_005))
    assert not set(seeds[0]) & set(seeds[1]) and not set(seeds[1]) & set(seeds[2])
    assert config.all_episode_seeds() == sorted(set().union(*seeds.values()))
    assert "10000 + 1000 * s + i" in config.episode_seed_scheme()
    shared = validate(load_config(PolicyConfig, overrides=["bc.seeds=[0, 1]", "rollout.episode_seeds=shared"]))
    assert shared.episode_seeds(0) == shared.episode_seeds(1) and shared.episode_seed_scheme().startswith("shared")
    with pytest.raises(ValueError, match=r"rollout\.seed_stride"):
        validate(load_config(PolicyConfig, overrides=["rollout.episodes=30", "rollout.seed_stride=10"]))
    with pytest.raises(ValueError, match=r"bc\.seeds"):
        validate(load_config(PolicyConfig, overrides=["bc.seeds=[-1]"]))
    with pytest.raises(ValueError, match=r"bc\.std_floor"):
        validate(load_config(PolicyConfig, overrides=["bc.std_floor=0"]))
    with pytest.raises(ValueError, match=r"calibration\.roles"):
        validate(load_config(PolicyConfig, overrides=["calibration.roles=[oracle, perfect]"]))
    with pytest.raises(ValueError, match=r"calibration\.oracle_min"):
        validate(load_config(PolicyConfig, overrides=["calibration.oracle_min=80"]))


def test_configs_load_and_validate():
    quick = validate(load_config(PolicyConfig, files=[QUICK_CONFIG]))
    assert len(quick.tasks) == 3 and quick.splits[0] == "id" and len(quick.splits) == 6
    assert quick.bc.hidden == [256, 256, 256] and quick.bc.epochs == 100 and quick.demos.per_task == 25
    assert quick.rollout.episodes == 25 and quick.rollout.horizon == 200 and quick.render.camera == "corner"
    full = validate(load_config(PolicyConfig, files=[QUICK_CONFIG.replace("quick", "full")]))
    # The suites are the calibrated lists, in the order of their evidence (configs/eval/calibration/).
    evidence = Path(QUICK_CONFIG).parent / "calibration"
    assert quick.tasks == json.loads((evidence / "quick.json").read_text())["kept"]
    kept_full = json.loads((evidence / "full.json").read_text())["kept"]
    assert set(full.tasks) == set(kept_full) and set(quick.tasks) <= set(full.tasks)
    for name in ("calibrate.yaml", "calibrate-quick.yaml"):
        calibration = validate(load_config(PolicyConfig, files=[str(Path(QUICK_CONFIG).parent / name)]))
        assert calibration.rollout.shifts == [] and calibration.render.image_size == 64
        assert set(calibration.calibration.candidates) <= set(TASKS)
    with pytest.raises(ValueError, match="'id' is always evaluated"):
        validate(load_config(PolicyConfig, overrides=["rollout.shifts=[id]"]))
    with pytest.raises(ValueError, match="needs validation demos"):
        validate(load_config(PolicyConfig, overrides=["demos.validation=0"]))
