"""The report's arithmetic from recorded rows: summaries over groups and shifts, gains, undefined (NaN) scores,
no zero-width intervals, metric bounds, and figures whose axes and error bars stay bounded."""

import math

import pytest

from dynaflip.eval.report.gains import gain
from dynaflip.eval.report.markdown import cell_text
from dynaflip.eval.report.plots import _bars, _pyplot, value_range
from dynaflip.eval.report.summary import Cell, combine, row_cell
from dynaflip.eval.results import ResultRow


def test_combine_averages_interval_ends_and_keeps_per_seed_values():
    a, b = Cell(0.5, 0.4, 0.6, [0.4, 0.5, 0.6]), Cell(0.7, 0.6, 0.8, [0.8, 0.7, 0.6])
    both = combine([a, b], what="shifts")
    assert (both.mean, both.low, both.high) == pytest.approx((0.6, 0.5, 0.7)) and "conservative" in both.method
    assert both.values == pytest.approx([0.6, 0.6, 0.6]) and both.n == {"seeds": 3, "shifts": 2}
    lacking = combine([a, Cell(0.7, math.nan, math.nan, [0.7])], what="groups")
    assert lacking.mean == pytest.approx(0.6) and not lacking.has_interval and "a group has none" in lacking.method
    undefined = Cell(math.nan, math.nan, math.nan, [math.nan] * 3)
    assert combine([a, undefined], what="groups") is a  # an undefined group is left out
    assert combine([undefined], what="groups") is None


def test_recorded_zero_width_intervals_become_none():
    old = ResultRow("mean", "id", "success", 0.067, 0.067, 0.067, [0.067] * 3)  # the old "6.7 [6.7, 6.7]"
    cell = row_cell(old)
    assert not cell.has_interval and "3 identical value(s)" in cell.method
    assert cell_text(cell, metric="success") == "6.7 (no interval)"


def test_gain_without_episodes_combines_the_recorded_intervals_never_a_t_over_seeds():
    a, b = Cell(0.5, 0.0, 1.0, [0.4, 0.5, 0.6]), Cell(0.3, 0.2, 0.4, [0.1, 0.3, 0.5])
    combined = gain(a, b, metric="score")  # same seeds or not: per-seed differences cannot see the episodes
    assert combined.method == "combined in quadrature" and combined.mean == pytest.approx(0.2)
    assert combined.low == pytest.approx(0.2 - math.hypot(0.5, 0.1))
    assert combined.high == pytest.approx(0.2 + math.hypot(0.5, 0.1))
    wide = (Cell(0.9, 0.2, 1.6), Cell(0.1, -0.5, 0.3))  # unclipped inputs: 0.8 + hypot(0.7, 0.6) > 1
    clipped = gain(*wide, metric="success")
    assert clipped.low >= -1.0 and clipped.high == 1.0  # a difference of rates stays in [-1, 1]
    none_ = gain(a, Cell(0.3, math.nan, math.nan), metric="score")
    assert not none_.has_interval and none_.mean == pytest.approx(0.2)


def test_cells_print_their_interval_or_why_there_is_none():
    assert cell_text(Cell(math.nan, math.nan, math.nan), metric="r2") == "n/a"
    assert cell_text(Cell(0.25, 0.125, 0.5), metric="success") == "25.0 [12.5, 50.0]"
    assert cell_text(
        Cell(0.25, math.nan, math.nan, method="no interval: n too small (4 episodes)"), metric="success"
    ) == ("25.0 (n too small)")
    assert cell_text(None, metric="r2") == "-"
    assert Cell(0.01, -0.02, 0.04).clipped("mse").low == 0.0 and Cell(0.9, 0.5, 1.3).clipped("score").high == 1.0


def test_figure_ranges_stay_in_bounds_and_cut_values_are_marked():
    assert value_range("success", [Cell(0.5, 0.2, 0.9)]) == pytest.approx((0.0, 1.05))
    assert value_range("mse", [Cell(0.01, -0.02, 0.04)])[0] == 0.0  # errors never drawn below 0
    low, high = value_range("score", [Cell(-240.0, -300.0, -1.0), Cell(0.6, 0.5, 0.7)])
    assert -1.2 < low < -1.0 and high == pytest.approx(1.1)
    low, high = value_range("success", [Cell(0.2, -0.1, 0.5)], difference=True)
    assert -1.0 <= low + 0.05 and high <= 1.1
    plt = _pyplot()
    figure, axis = plt.subplots()
    notes = _bars(
        axis,
        ["a", "b"],
        {"id": [Cell(-240.0, -300.0, -1.0), Cell(0.6, math.nan, math.nan)]},
        scale=1.0,
        limits=(low := -1.1, 1.1),
    )
    assert any("triangle" in note for note in notes) and any("hatched" in note for note in notes)
    assert axis.get_ylim() == pytest.approx((low, 1.1))
    for patch in axis.patches:  # every bar drawn inside the axis
        assert low - 1e-9 <= patch.get_y() <= 1.1 and low - 1e-9 <= patch.get_y() + patch.get_height() <= 1.1
    assert any("-240" in text.get_text() for text in axis.texts)
    plt.close(figure)
