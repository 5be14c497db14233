"""Representation health on constructed features: isotropic noise has full rank, a line has rank 1 and all of
its standardised variance on one component, and the consecutive-frame ratio tells a slow clock from noise."""

import numpy as np
import pytest

from dynaflip.health import (
    CollapseRule,
    consecutive_pairs,
    consecutive_ratio,
    effective_rank,
    health_metrics,
    mean_pairwise_distance,
    pc1_share,
)


def test_isotropic_gaussian_has_effective_rank_near_its_width():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((4000, 32))
    rank = effective_rank(features)
    assert 30.0 < rank <= 32.0, rank
    assert pc1_share(features) < 1.5 / 32  # every standardised direction holds ~1/32


def test_features_on_one_line_have_rank_one_and_all_variance_on_the_first_component():
    rng = np.random.default_rng(1)
    direction = rng.standard_normal(64)
    offset = rng.standard_normal(64) * 10  # the line need not pass through 0
    features = offset + rng.standard_normal((500, 1)) * direction
    assert effective_rank(features) == pytest.approx(1.0, abs=1e-3)
    assert pc1_share(features) == pytest.approx(1.0, abs=1e-9)


def test_effective_rank_counts_equal_directions_and_ignores_scale():
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.standard_normal((48, 48)))[0][:, :5]  # 5 orthonormal directions in 48-d
    features = rng.standard_normal((3000, 5)) @ basis.T
    assert effective_rank(features) == pytest.approx(5.0, abs=0.2)
    assert effective_rank(features * 1e3) == pytest.approx(effective_rank(features), rel=1e-9)


def test_pc1_share_is_measured_after_standardising_each_dimension():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((5000, 8))
    features[:, 0] *= 1000  # one loud, independent dimension: raw PCA would give it ~100 %
    assert pc1_share(features) < 0.2
    constant = np.concatenate([features, np.full((5000, 1), 7.0)], axis=1)  # a constant dimension is left out
    assert pc1_share(constant) == pytest.approx(pc1_share(features), rel=1e-9)


def test_mean_pairwise_distance_is_exact():
    points = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert mean_pairwise_distance(points) == pytest.approx((5 + 10 + 5) / 3)


def test_consecutive_pairs_follow_the_order_inside_each_episode():
    episodes = np.array([1, 0, 1, 0, 1])
    order = np.array([2, 1, 0, 0, 1])
    first, second = consecutive_pairs(episodes, order)
    assert sorted(zip(first.tolist(), second.tolist(), strict=True)) == [(2, 4), (3, 1), (4, 0)]


def test_consecutive_ratio_tells_a_slow_trajectory_from_shuffled_frames():
    rng = np.random.default_rng(4)
    episodes, frames = 20, 30
    # Each episode is a smooth random walk with small steps, starting somewhere far in a 16-d space.
    starts = rng.standard_normal((episodes, 1, 16)) * 10
    steps = rng.standard_normal((episodes, frames, 16)) * 0.1
    features = (starts + steps.cumsum(axis=1)).reshape(-1, 16)
    episode_ids = np.repeat(np.arange(episodes), frames)
    order = np.tile(np.arange(frames), episodes)
    smooth = consecutive_ratio(features, episode_ids=episode_ids, order=order)
    assert smooth < 0.05
    # The same frames with their order shuffled inside each episode: neighbours in time are no closer.
    shuffled = np.concatenate([rng.permutation(frames) for _ in range(episodes)])
    mixed = consecutive_ratio(features, episode_ids=episode_ids, order=shuffled)
    assert 2.5 * smooth < mixed  # a random walk: |i - j| steps apart is ~sqrt(|i - j|) times as far
    # i.i.d. frames: a consecutive pair is a random pair, the ratio ~1.
    noise = rng.standard_normal((episodes * frames, 16))
    assert consecutive_ratio(noise, episode_ids=episode_ids, order=order) == pytest.approx(1.0, abs=0.05)
    # One frame per episode: no consecutive pair at all.
    assert consecutive_ratio(noise[:5], episode_ids=np.arange(5), order=np.zeros(5)) is None


def test_health_metrics_and_the_collapse_rule():
    rng = np.random.default_rng(5)
    healthy = health_metrics(rng.standard_normal((600, 24)), episode_ids=np.repeat(np.arange(60), 10))
    assert healthy.width == 24 and healthy.frames == 600 and healthy.consecutive_ratio is not None
    line = rng.standard_normal((600, 1)) * rng.standard_normal(24) + 0.01 * rng.standard_normal((600, 24))
    collapsed = health_metrics(line)
    rule = CollapseRule()
    assert rule.reasons(healthy, healthy) == []
    reasons = rule.reasons(collapsed, healthy)
    assert len(reasons) == 2 and "effective rank" in reasons[0] and "first-PC share" in reasons[1]
    assert "effective rank" in healthy.line() and healthy.to_json()["width"] == 24
    with pytest.raises(ValueError, match="features: expected an"):
        health_metrics(np.zeros(5))
