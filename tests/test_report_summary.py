"""The report's arithmetic: summaries over groups and shifts, gains, and undefined (NaN) scores."""

import math

import pytest

from dynaflip.eval.report.gains import gain
from dynaflip.eval.report.markdown import cell_text
from dynaflip.eval.report.summary import Cell, combine
from dynaflip.eval.stats import mean_interval


def test_combine_per_seed_when_aligned_else_means_of_means():
    a, b = Cell(0.5, 0.4, 0.6, [0.4, 0.5, 0.6]), Cell(0.7, 0.6, 0.8, [0.8, 0.7, 0.6])
    both = combine([a, b], what="groups")
    assert both.values == pytest.approx([0.6, 0.6, 0.6]) and both.low == pytest.approx(0.6)
    ragged = combine([a, Cell(0.7, 0.5, 0.9, [0.7])], what="groups")
    assert ragged.values == [] and (ragged.mean, ragged.low, ragged.high) == pytest.approx((0.6, 0.45, 0.75))
    assert "mean of groups means" in ragged.method
    undefined = Cell(math.nan, math.nan, math.nan, [math.nan] * 3)
    assert combine([a, undefined], what="groups") is a  # an undefined group is left out
    assert combine([undefined], what="groups") is None


def test_gain_is_paired_only_for_the_same_seeds():
    a, b = Cell(0.5, 0.0, 1.0, [0.4, 0.5, 0.6]), Cell(0.3, 0.2, 0.4, [0.1, 0.3, 0.5])
    paired = gain(a, b, seeds=[0, 1, 2], baseline_seeds=[0, 1, 2])
    assert paired.method == "paired" and (paired.mean, paired.low, paired.high) == pytest.approx(
        mean_interval([0.3, 0.2, 0.1])
    )
    for seeds in ([3, 4, 5], None):
        combined = gain(a, b, seeds=seeds, baseline_seeds=[0, 1, 2])
        assert combined.method == "combined" and combined.mean == pytest.approx(0.2)
        assert combined.low == pytest.approx(0.2 - math.hypot(0.5, 0.1))
        assert combined.high == pytest.approx(0.2 + math.hypot(0.5, 0.1))


def test_undefined_scores_print_as_not_available():
    assert cell_text(Cell(math.nan, math.nan, math.nan), metric="r2") == "n/a"
    assert cell_text(Cell(0.25, 0.125, 0.5), metric="success") == "25.0 [12.5, 50.0]"
    assert cell_text(None, metric="r2") == "-"
