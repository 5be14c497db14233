"""Linear probes on synthetic features: they recover what is linearly there and nothing that is not."""

import numpy as np
import pytest
import torch

from dynaflip.eval.probe import SweepConfig, fit_probe, resolve_suites
from dynaflip.eval.probe.linear import grid_loss
from dynaflip.eval.probe.metrics import accuracy, mse, r2_score
from dynaflip.eval.probe.splits import partition, plan_episodes

FAST = SweepConfig(lrs=(1e-2, 1e-1), weight_decays=(0.0, 1e-3, 1e-1), steps=200, eval_every=20)


def _features(rng, count, dim=32):
    # Badly scaled, offset features: the probe has to standardise them.
    return rng.normal(size=(count, dim)) * rng.uniform(0.05, 20.0, size=dim) + rng.normal(size=dim) * 10


def _split(*arrays):
    return [(a[:300], a[300:400], a[400:]) for a in arrays]


def test_a_known_linear_map_is_recovered():
    rng = np.random.default_rng(0)
    x = _features(rng, 600)
    y = x @ rng.normal(size=(32, 5)) + 0.01 * rng.normal(size=(600, 5))
    (xt, xv, xs), (yt, yv, ys) = _split(x, y)
    probe, record = fit_probe(xt, yt, xv, yv, kind="regression", config=FAST, seed=0)
    prediction = probe.predict(xs)
    assert prediction.shape == ys.shape
    assert r2_score(ys, prediction) > 0.99
    assert mse(ys, prediction) < 1e-2 * np.var(ys)
    assert record["lr"] in FAST.lrs and record["weight_decay"] in FAST.weight_decays and 0 < record["step"] <= 200


def test_masked_entries_neither_train_nor_score():
    rng = np.random.default_rng(1)
    x = _features(rng, 600)
    y = x @ rng.normal(size=(32, 6))
    mask = rng.random(y.shape) > 0.4
    corrupted = np.where(mask, y, 1e3 * rng.normal(size=y.shape))  # garbage where invalid
    (xt, xv, xs), (yt, yv, ys), (mt, mv, ms) = _split(x, corrupted, mask)
    probe, _ = fit_probe(xt, yt, xv, yv, kind="regression", train_mask=mt, val_mask=mv, config=FAST)
    assert r2_score(ys, probe.predict(xs), ms) > 0.99
    assert r2_score(ys, probe.predict(xs)) < 0.1  # scored without the mask, the garbage dominates


def test_separable_classes_are_classified_perfectly():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 32)) * 4
    labels = rng.integers(0, 4, size=600)
    x = centres[labels] + rng.normal(size=(600, 32))
    (xt, xv, xs), (lt, lv, ls) = _split(x, labels)
    probe, record = fit_probe(xt, lt, xv, lv, kind="classification", num_classes=4, config=FAST)
    assert accuracy(ls, probe.predict(xs)) > 0.99
    assert record["val_accuracy"] > 0.99


def test_shuffled_labels_stay_at_chance():
    rng = np.random.default_rng(3)
    x = _features(rng, 600)
    y = rng.permutation(x @ rng.normal(size=(32, 3)))
    (xt, xv, xs), (yt, yv, ys) = _split(x, y)
    probe, _ = fit_probe(xt, yt, xv, yv, kind="regression", config=FAST)
    assert r2_score(ys, probe.predict(xs)) < 0.05
    labels = rng.integers(0, 4, size=600)
    (lt, lv, ls), = _split(labels)  # fmt: skip
    probe, _ = fit_probe(xt, lt, xv, lv, kind="classification", num_classes=4, config=FAST)
    assert abs(accuracy(ls, probe.predict(xs)) - 0.25) < 0.1


def test_metrics():
    y = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.broadcast_to(y.mean(0), y.shape)) == pytest.approx(0.0)
    # Pooled over columns: the second column varies 4x as much and weighs 4x.
    assert r2_score(y, y + [[0.0, 1.0]] * 3) == pytest.approx(1 - 3 / (2 + 8))
    mask = np.array([[True, True], [True, True], [True, False]])
    noisy = y.copy()
    noisy[2, 1] = 100.0
    assert mse(y, noisy, mask) == 0.0 and r2_score(y, noisy, mask) == 1.0
    assert np.isnan(r2_score(np.ones((3, 1)), np.ones((3, 1))))
    assert accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75


def test_analytic_gradients_match_autograd():
    torch.manual_seed(0)
    prediction = torch.randn(7, 3, 4, requires_grad=True)
    classes = torch.randint(0, 4, (7,))
    targets, mask = torch.randn(7, 4), (torch.rand(7, 4) > 0.3).float()
    for target, weights, kind in [(classes, None, "classification"), (targets, mask, "regression")]:
        loss, gradient = grid_loss(prediction, target, weights, kind=kind)
        (expected,) = torch.autograd.grad(loss.sum(), prediction)
        torch.testing.assert_close(gradient, expected)


def test_episode_splits_and_redrawn_partitions():
    plan = plan_episodes(["a", "b"], episodes_per_task=6, val_episodes=2, test_episodes=1, seed=10)
    assert plan["train"] == [("a", 10), ("a", 11), ("a", 12), ("b", 10), ("b", 11), ("b", 12)]
    assert plan["val"] == [("a", 13), ("a", 14), ("b", 13), ("b", 14)] and plan["test-id"] == [("a", 15), ("b", 15)]
    with pytest.raises(ValueError, match="leaves 0 train episodes"):
        plan_episodes(["a"], episodes_per_task=3, val_episodes=2, test_episodes=1, seed=0)
    # Pooled train+val frames: 5 episodes per task, 3 frames each; stored val = the last 2 episodes.
    task = np.repeat([0, 1], 15)
    seeds = np.tile(np.repeat(np.arange(5), 3), 2)
    stored = seeds >= 3
    train, val = partition(task, seeds, stored_val=stored, seed=0)
    assert np.array_equal(val, np.flatnonzero(stored))
    draws = set()
    for seed in range(1, 6):
        train, val = partition(task, seeds, stored_val=stored, seed=seed)
        assert len(train) + len(val) == 30 and not set(train) & set(val)
        for t in (0, 1):
            val_episodes = set(seeds[val][task[val] == t])
            assert len(val_episodes) == 2  # whole episodes, as many per task as stored
            assert not val_episodes & set(seeds[train][task[train] == t])
        draws.add(tuple(val))
    assert len(draws) > 1


def test_suites_resolve_and_unknown_names_are_named():
    assert [p.name for p in resolve_suites("control,flow,task")] == [
        "ee_pos", "gripper", "object_pos", "future_flow", "task",
    ]  # fmt: skip
    assert [p.name for p in resolve_suites("flow")] == ["future_flow"]
    with pytest.raises(ValueError, match="unknown suite 'dynamics'"):
        resolve_suites("control,dynamics")
