"""The OOD probe metric: the skill score against a float64 reference, its floor and ceiling on real probe data
(constant train-mean predictor 0, perfect predictor 1, on every split), clipped predictions, the PCA that
conditions the probe, and bootstrap intervals over test episodes that cover at the nominal rate."""

import math

import numpy as np
import pytest

from dynaflip.eval.probe import ProbeDataset, SweepConfig, fit_probe, resolve_suites
from dynaflip.eval.probe.bootstrap import ProbeBootstrap
from dynaflip.eval.probe.linear import LinearProbe, Standardizer, TargetScaler
from dynaflip.eval.probe.metrics import r2_score, skill_score
from dynaflip.eval.probe.runner import probe_components
from dynaflip.eval.probe.scoring import SplitPredictions, regression_estimates, score_rows
from dynaflip.eval.probe.splits import TRAIN, result_split
from tests.helpers.probe_data import tiny_probe_dataset

FAST = SweepConfig(lrs=(1e-2, 1e-1), weight_decays=(0.0, 1e-2), steps=100, eval_every=20)


def test_skill_score_matches_a_float64_reference():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 3)) * [1.0, 2.0, 0.5] + [0.3, -1.0, 2.0]
    prediction = y + rng.normal(scale=0.4, size=y.shape)
    mask = rng.random(y.shape) > 0.3
    train_mean = np.array([0.1, -0.5, 2.2])
    error = sum((y[i, j] - prediction[i, j]) ** 2 for i in range(50) for j in range(3) if mask[i, j])
    baseline = sum((y[i, j] - train_mean[j]) ** 2 for i in range(50) for j in range(3) if mask[i, j])
    assert skill_score(y, prediction, train_mean, mask) == pytest.approx(1 - error / baseline, rel=1e-12)
    assert skill_score(y, y, train_mean) == 1.0
    assert skill_score(y, np.broadcast_to(train_mean, y.shape), train_mean) == 0.0
    # With the test split's own mean as the reference it is R²; a training mean off the test mean makes the
    # same prediction look better (the constant it is measured against is worse on this split).
    assert skill_score(y, prediction, y.mean(axis=0)) == pytest.approx(r2_score(y, prediction), rel=1e-12)
    assert skill_score(y, prediction, y.mean(axis=0) + 1.0) > r2_score(y, prediction)
    # Units do not matter (metres or centimetres), and nothing to explain is undefined, not a number.
    assert skill_score(100 * y, 100 * prediction, 100 * train_mean, mask) == pytest.approx(
        skill_score(y, prediction, train_mean, mask)
    )
    assert math.isnan(skill_score(np.ones((4, 1)), np.zeros((4, 1)), np.ones(1)))


def test_the_probe_clips_its_predictions_to_the_training_label_range():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 16))
    y = x @ rng.normal(size=(16, 2))
    probe, _ = fit_probe(x[:200], y[:200], x[200:], y[200:], kind="regression", config=FAST)
    far = 25 * rng.normal(size=(100, 16))  # features a shift pushed far from anything seen in training
    raw, clipped = probe.predict(far, clip=False), probe.predict(far)
    low, high = y[:200].min(axis=0), y[:200].max(axis=0)
    assert np.all(clipped >= low - 1e-9) and np.all(clipped <= high + 1e-9)
    assert np.abs(raw).max() > 3 * np.abs(y).max()  # unclipped, the read-out extrapolates far past the labels
    assert np.array_equal(clipped, np.clip(raw, low, high))
    # Bounded below as well: clipped predictions score no worse than the worst corner of the training range.
    worst = np.where(np.abs(y[200:] - low) > np.abs(y[200:] - high), low, high)
    floor = skill_score(y[200:], worst, y[:200].mean(axis=0))
    assert skill_score(y[200:], probe.predict(25 * x[200:]), y[:200].mean(axis=0)) >= floor
    # The flow probe's mask: invalid training entries neither set the range nor the mean.
    mask = np.ones_like(y[:200], dtype=bool)
    mask[:5, 0] = False
    spoiled = y[:200].copy()
    spoiled[:5, 0] = 1e6
    scaler = TargetScaler.fit(spoiled, mask)
    assert scaler.high[0] == pytest.approx(y[5:200, 0].max()) and abs(scaler.mean[0]) < 10


def test_pca_projection_of_the_training_features():
    rng = np.random.default_rng(2)
    latent = rng.normal(size=(120, 5))
    x = latent @ rng.normal(size=(5, 40)) * rng.uniform(0.1, 30, size=40) + rng.normal(size=40) * 5
    x += 1e-3 * rng.normal(size=x.shape)
    full = Standardizer.fit(x)
    assert full.projection is None and full.dim == 40
    assert np.allclose(full(x).mean(axis=0), 0, atol=1e-5) and np.allclose(full(x).std(axis=0), 1, atol=1e-4)
    reduced = Standardizer.fit(x, components=5)
    z = reduced(x).astype(np.float64)
    assert reduced.dim == 5 and z.shape == (120, 5)
    assert np.allclose(reduced.projection.T @ reduced.projection, np.eye(5), atol=1e-10)  # orthonormal axes
    covariance = z.T @ z / len(z)
    assert np.allclose(covariance, np.diag(np.diag(covariance)), atol=1e-4)  # uncorrelated components
    assert np.mean(np.diag(covariance)) == pytest.approx(1.0, rel=1e-4)  # one common scale, not whitened
    assert np.all(np.diff(np.diag(covariance)) <= 1e-9)  # leading components first
    # Five components hold the signal: a float64 least-squares reference reconstructs the standardised data.
    standardised = (x - x.mean(axis=0)) / x.std(axis=0)
    back = (z * reduced.scale) @ reduced.projection.T
    assert np.abs(back - standardised).max() < 0.01 * np.abs(standardised).max()
    assert Standardizer.fit(x[:3], components=10).dim == 2  # never more than the frames' rank


def test_probe_components_keep_ten_training_frames_per_dimension():
    assert probe_components("auto", train_frames=72, feature_dim=384) == 7
    assert probe_components("auto", train_frames=180, feature_dim=384) == 18
    assert probe_components("auto", train_frames=5000, feature_dim=384) is None  # enough frames: all dims
    assert probe_components("auto", train_frames=4, feature_dim=384) == 1
    assert probe_components("none", train_frames=72, feature_dim=384) is None
    assert probe_components("0", train_frames=72, feature_dim=384) is None
    assert probe_components("32", train_frames=72, feature_dim=384) == 32
    with pytest.raises(ValueError, match="--pca-dims: expected 'auto'"):
        probe_components("many", train_frames=72, feature_dim=384)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return ProbeDataset(tiny_probe_dataset(tmp_path_factory))


def test_constant_train_mean_and_perfect_predictors_score_0_and_1_on_every_split(data):
    """Acceptance: the instrument's floor and ceiling, on real probe data through the real scoring path."""
    probes = resolve_suites("control,flow,task")
    train = data.labels(TRAIN)
    test = data.labels("test-id")
    plan = ProbeBootstrap.plan(task=test["task"], episode_seed=test["episode_seed"], seeds=2, samples=200)
    splits = [result_split(split) for split in data.test_splits]
    constant, perfect = {}, {}
    for probe in probes:
        target, mask = probe.target(train)
        scaler = None if probe.kind == "classification" else TargetScaler.fit(target, mask)
        outputs = 2 if probe.kind == "classification" else target.shape[1]
        # A trained probe with zero weights and bias answers the training label mean (through predict's clip).
        zero = LinearProbe(
            kind=probe.kind,
            weight=np.zeros((4, outputs)),
            bias=np.zeros(outputs),
            features=Standardizer.fit(np.random.default_rng(0).normal(size=(12, 4))),
            targets=scaler,
        )
        for split in data.test_splits:
            test_target, test_mask = probe.target(data.labels(split))
            key = (probe.name, result_split(split))
            features = np.random.default_rng(1).normal(size=(len(test_target), 4))
            constant[key] = SplitPredictions(test_target, test_mask, [zero.predict(features)] * 2)
            perfect[key] = SplitPredictions(test_target, test_mask, [test_target.copy()] * 2)
            if scaler is not None:
                constant[key].train_means = perfect[key].train_means = [scaler.mean] * 2
    for predictions, expected in ((constant, 0.0), (perfect, 1.0)):
        rows, missing = score_rows(predictions, probes=probes, splits=splits, plan=plan)
        scores = [row for row in rows if row.metric == "score"]
        assert {row.split for row in scores} == set(splits) and {row.group for row in scores} == {
            "ee_pos", "gripper", "object_pos", "future_flow", "median",
        }  # fmt: skip
        for row in scores:
            if row.group == "gripper" and math.isnan(row.mean):
                continue  # a tiny split can hold a single gripper opening: nothing to explain
            assert row.mean == pytest.approx(expected, abs=1e-12), (row.group, row.split)
            assert all(value == pytest.approx(expected, abs=1e-12) for value in row.values)
            assert math.isnan(row.low) and math.isnan(row.high)  # 2 test episodes: no interval, said plainly
        assert all("n too small" in note["reason"] for note in missing)
        if expected == 1.0:
            assert all(row.mean == 0 for row in rows if row.metric == "rmse_cm")
            assert all(row.mean == 1 for row in rows if row.metric == "accuracy")
    # The camera split scores flow against its own re-expressed target, with its own (equal-rule) reference.
    camera_flow = constant[("future_flow", "camera")]
    assert not np.array_equal(camera_flow.target, constant[("future_flow", "id")].target)


def _clustered_study(rng, *, tasks=3, episodes=10, frames=6):
    """Per-frame targets, predictions and a zero training mean whose errors share an episode effect, so the
    population score is known: 1 - (0.49 + 0.25) / (1.44 + 0.64)."""
    count = tasks * episodes
    task = np.repeat(np.arange(tasks), episodes * frames)
    episode = np.repeat(np.arange(count), frames)
    y = rng.normal(scale=1.2, size=count)[episode] + rng.normal(scale=0.8, size=len(episode))
    error = rng.normal(scale=0.7, size=count)[episode] + rng.normal(scale=0.5, size=len(episode))
    return task, episode, y[:, None], (y - error)[:, None]


TRUE_SCORE = 1 - (0.49 + 0.25) / (1.44 + 0.64)


def test_episode_bootstrap_covers_the_true_score_at_about_the_nominal_rate():
    rng = np.random.default_rng(3)
    covered, widths, naive_widths = 0, [], []
    studies = 200
    for study in range(studies):
        task, episode, y, prediction = _clustered_study(rng)
        data = SplitPredictions(target=y, mask=None, predictions=[prediction], train_means=[np.zeros(1)])
        plan = ProbeBootstrap.plan(task=task, episode_seed=episode, seeds=1, samples=400, seed=study)
        low, high, reason = plan.interval(regression_estimates(data, plan, centimetres=False)["score"].draws)
        assert reason is None
        covered += low <= TRUE_SCORE <= high
        widths.append(high - low)
        frames = ProbeBootstrap.plan(task=task, episode_seed=np.arange(len(task)), seeds=1, samples=400, seed=study)
        naive = frames.interval(regression_estimates(data, frames, centimetres=False)["score"].draws)
        naive_widths.append(naive[1] - naive[0])
    assert 0.88 <= covered / studies <= 0.99, covered / studies
    # Treating correlated frames as independent would claim about half the width.
    assert np.mean(widths) > 1.3 * np.mean(naive_widths)


def test_no_interval_when_episodes_are_too_few_or_resamples_never_vary():
    task = np.repeat([0, 1, 2], 6)
    two_each = ProbeBootstrap.plan(task=task, episode_seed=np.arange(18) // 3, seeds=3, samples=50)
    assert two_each.reason and "n too small: 6 test episodes (2-2 per task)" in two_each.reason
    assert all(math.isnan(v) for v in two_each.interval(np.linspace(0, 1, 50))[:2])
    enough = ProbeBootstrap.plan(task=task, episode_seed=np.arange(18) // 2, seeds=3, samples=50)
    assert enough.reason is None and enough.episodes == 9
    low, high, reason = enough.interval(np.full(50, 0.75))
    assert math.isnan(low) and math.isnan(high) and "every resample gives 0.75" in reason
    low, high, reason = enough.interval(np.linspace(0, 1, 50))
    assert reason is None and 0 < low < high < 1
    # Each draw takes n - 1 of a task's n episodes, weighted back to n, and as many seeds as there are.
    per_task = enough.counts.reshape(50, 3, 3)
    assert np.allclose(per_task.sum(axis=2), 3) and np.all((per_task > 0).sum(axis=2) <= 2)
    assert enough.seed_draws.shape == (50, 3)


def test_a_perfect_classifier_gets_the_wilson_interval_of_its_episodes_not_a_zero_width_one():
    from dynaflip.eval.probe.targets import PROBES
    from dynaflip.eval.stats import wilson_interval

    task = np.repeat([0, 1, 2], 6)
    plan = ProbeBootstrap.plan(task=task, episode_seed=np.arange(18) // 2, seeds=2, samples=100)
    labels = task.copy()
    data = SplitPredictions(target=labels, mask=None, predictions=[labels, labels])
    (row,), missing = score_rows({("task", "id"): data}, probes=[PROBES["task"]], splits=["id"], plan=plan)
    assert row.mean == 1.0 and not missing
    assert (row.low, row.high) == pytest.approx(wilson_interval(9, 9)[1:]) and row.low < 1.0
    assert "Wilson" in row.interval and row.n == {"tasks": 3, "seeds": 2, "episodes": 3}
