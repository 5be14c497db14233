"""Intervals that say what they are: Student-t over seeds, Wilson and Newcombe score intervals, no zero width,
'n too small' where there is nothing to measure a spread with, and the minimum detectable difference."""

import math
import statistics
from statistics import NormalDist

import numpy as np
import pytest

from dynaflip.eval.results import ResultRow
from dynaflip.eval.stats import describe_n, interval_text, mean_interval, t_interval, wilson_interval
from dynaflip.eval.stats.estimate import MIN_EPISODES, rate_interval
from dynaflip.eval.stats.intervals import newcombe_difference
from dynaflip.eval.stats.power import mde_factor, minimum_detectable_difference


def test_t_interval_matches_the_closed_form_and_refuses_what_it_cannot_measure():
    values = [0.2, 0.35, 0.5, 0.3]
    interval = t_interval(values)
    half = 3.182 * statistics.stdev(values) / math.sqrt(4)  # t_{0.975, 3} = 3.182
    assert (interval.low, interval.high) == pytest.approx(
        (statistics.mean(values) - half, statistics.mean(values) + half)
    )
    assert interval.n == {"seeds": 4} and interval.method == "t-interval over 4 seeds"
    one = t_interval([0.4])
    assert one.estimate == 0.4 and not one.has_interval and "n too small" in one.method
    same = t_interval([0.067, 0.067, 0.067])  # the "6.7 [6.7, 6.7]" of identical seeds
    assert not same.has_interval and "identical" in same.method
    mean, low, high = mean_interval([0.5])
    assert mean == 0.5 and math.isnan(low) and math.isnan(high)
    row = ResultRow.from_values(group="g", split="id", metric="score", values=[0.3, 0.3])
    assert math.isnan(row.low) and not row.has_interval and "identical" in row.interval and row.n == {"seeds": 2}


def test_wilson_and_newcombe_against_closed_forms_and_never_zero_width():
    _, low, high = wilson_interval(25, 25)
    z = NormalDist().inv_cdf(0.975)
    assert high == pytest.approx(1.0) and low == pytest.approx(25 / (25 + z * z))  # k = n: low = n / (n + z^2)
    for trials in (1, 5, 40):
        for successes in range(trials + 1):
            _, low, high = wilson_interval(successes, trials)
            assert 0.0 <= low < high <= 1.0
    # Newcombe's method 10 on the textbook example (Newcombe 1998, table II: 56/70 vs 48/80): [0.0524, 0.3339].
    difference, low, high = newcombe_difference((56, 70), (48, 80))
    assert difference == pytest.approx(0.2) and (low, high) == pytest.approx((0.0524, 0.3339), abs=5e-4)


def test_success_rate_interval_stays_in_bounds_is_never_zero_width_and_says_n_too_small():
    every = rate_interval(1.0, np.ones(500), episodes=75, n={"tasks": 1, "seeds": 3, "episodes": 25}, seeds=3)
    assert every.has_interval and every.high == 1.0 and every.low == pytest.approx(wilson_interval(75, 75)[1])
    assert "Wilson floor" in every.method
    none_ = rate_interval(0.0, np.zeros(500), episodes=75, n={}, seeds=3)
    assert none_.low == 0.0 and 0.0 < none_.high < 0.1
    few = rate_interval(0.5, np.linspace(0, 1, 500), episodes=MIN_EPISODES - 1, n={"episodes": 9}, seeds=1)
    assert not few.has_interval and few.method.startswith("no interval: n too small")
    assert interval_text(few.estimate, few.low, few.high, few.method, scale=100, digits=1) == "50.0 (n too small)"
    wide = rate_interval(0.5, np.linspace(-0.5, 1.5, 500), episodes=100, n={}, seeds=2)
    assert 0.0 <= wide.low < wide.high <= 1.0
    assert describe_n({"tasks": 3, "seeds": 1, "episodes": 25}) == "3 tasks x 1 seed x 25 episodes"


def test_minimum_detectable_difference_formula():
    factor = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)
    assert mde_factor() == pytest.approx(1.959964 + 0.841621, abs=1e-6) == pytest.approx(factor)
    assert minimum_detectable_difference(0.05) == pytest.approx(0.05 * factor)
    assert math.isnan(minimum_detectable_difference(math.nan))
    # The definition: a true difference of MDE is significant (|estimate| > 1.96 SE) with probability 0.8.
    se = 0.04
    power = 1 - NormalDist(minimum_detectable_difference(se), se).cdf(1.959964 * se)
    assert power == pytest.approx(0.8, abs=1e-4)
