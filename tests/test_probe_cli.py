"""``dynaflip-probe run`` end to end on the tiny probe dataset: random and timm encoders, result files,
the feature cache, and one-line errors."""

import json

import numpy as np
import pytest
import torch

from dynaflip.eval.probe.sums import EpisodeSums, point
from dynaflip.eval.probe_cli import main
from dynaflip.eval.results import read_results
from tests.helpers.probe_data import TINY_ENCODER, tiny_probe_dataset
from tests.helpers.probe_timm import fake_timm_hub_cache, use_hub_cache

PROBES = {"ee_pos", "gripper", "object_pos", "future_flow", "task"}
SPLITS = {"id", "camera", "lighting", "table", "distractors", "occlusion"}
FAST = ["--steps", "60", "--no-progress"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_probe_dataset(tmp_path_factory)


def _check_outputs(folder, *, seeds, kind="probe"):
    results = read_results(folder / "results.json")
    assert results["kind"] == kind and results["encoder"]["parameters"] > 0
    rows = results["rows"]
    assert {row.group for row in rows} == PROBES | {"median"} and {row.split for row in rows} == SPLITS
    metrics = {(row.group, row.metric) for row in rows}
    assert metrics == {
        *((probe, "score") for probe in ("ee_pos", "gripper", "object_pos", "future_flow", "median")),
        ("ee_pos", "rmse_cm"), ("object_pos", "rmse_cm"), ("task", "accuracy"),
    }  # fmt: skip
    for row in rows:
        assert len(row.values) == seeds
        assert np.isfinite(row.mean) or row.group == "gripper"  # a split may hold one gripper opening only
        if row.metric in ("score", "accuracy"):
            assert not row.mean > 1  # bounded above (NaN compares False)
        # The tiny dataset has 2 test episodes: no interval at all, never a zero-width one, and it says so.
        assert np.isnan(row.low) and np.isnan(row.high) and row.interval.startswith("no interval: n too small")
        assert row.n == {"tasks": 2, "seeds": seeds, "episodes": 1}
    config = results["config"]
    assert "n too small" in config["intervals"]["none"] and config["omitted"] == []
    assert config["dataset"]["relabelled"] == {"camera": ["flow", "flow_valid"]}
    assert all(0 <= share <= 1 for share in config["clipped_fraction"].values())
    # 12 training frames (seed 0), 10 per input dimension: one principal component.
    assert [entry["components"] for entry in config["conditioning"]["per_seed"]] == [1] * seeds
    markdown = (folder / "results.md").read_text()
    assert "| probe | metric | ID | camera | lighting | table | distractors | occlusion |" in markdown
    assert "| future_flow | score |" in markdown and "| **median** (over probes) | score |" in markdown
    assert "**No intervals**: n too small" in markdown and "re-expressed for the shifted camera" in markdown
    assert (folder / "probes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The per-episode sums dynaflip-report pairs encoders on reproduce every row's value.
    sums = EpisodeSums.read(folder / "episodes.json")
    assert sums.seeds == seeds and len(sums.tasks) == 2
    for row in rows:
        key = f"{row.group}/{row.split}/{row.metric}"
        assert point(sums, key) == pytest.approx(row.mean, nan_ok=True, abs=1e-9), key
    return results


def test_random_encoder_end_to_end_and_features_come_from_the_cache(data, tmp_path, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["run", "--data", str(data), "--encoder", TINY_ENCODER, "--out", str(out), "--cache", str(cache)]
    assert main([*args, "--seeds", "2", *FAST]) == 0
    printed = capsys.readouterr().out
    assert "img/s" in printed and "| future_flow | score |" in printed
    folder = out / "vit_tiny_patch16_224-random"
    results = _check_outputs(folder, seeds=2)
    assert results["timing"]["images_encoded"] == 12 + 6 + 6 * 6 and results["timing"]["cached_splits"] == 0
    assert results["config"]["dataset"]["dataset_id"] == json.loads((data / "dataset.json").read_text())["dataset_id"]
    assert len(results["config"]["selection"]) == 2 * len(PROBES)
    cached = sorted(cache.rglob("*.npy"))
    assert len(cached) == 8
    stamps = [path.stat().st_mtime_ns for path in cached]

    assert main([*args, "--seeds", "1", "--suites", "control", *FAST]) == 0  # another sweep, same features
    again = read_results(folder / "results.json")
    assert again["timing"]["images_encoded"] == 0 and again["timing"]["cached_splits"] == 8
    assert {row.group for row in again["rows"]} == {"ee_pos", "gripper", "object_pos", "median"}
    assert [path.stat().st_mtime_ns for path in sorted(cache.rglob("*.npy"))] == stamps


def test_a_timm_encoder_loads_pretrained_weights_from_the_hub_cache(data, tmp_path, monkeypatch):
    from dynaflip.eval.encoders import load_eval_encoder

    cache = use_hub_cache(monkeypatch, tmp_path / "hf")
    saved = fake_timm_hub_cache(cache, "vit_tiny_patch16_224")
    spec = "timm:vit_tiny_patch16_224?img_size=64"
    loaded = load_eval_encoder(spec).module.backbone.state_dict()
    assert torch.equal(loaded["blocks.0.attn.qkv.weight"], saved["blocks.0.attn.qkv.weight"])  # not a random init
    out = tmp_path / "out"
    args = ["run", "--data", str(data), "--encoder", spec, "--out", str(out), "--cache", str(tmp_path / "features")]
    assert main([*args, "--seeds", "1", *FAST]) == 0
    results = _check_outputs(out / "vit_tiny_patch16_224", seeds=1)
    assert results["encoder"]["spec"] == spec


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--encoder", "nope:thing"], "unknown kind 'nope'"),
        (["--encoder", "random:not_a_model"], "encoder 'random:not_a_model'"),
        (["--encoder", TINY_ENCODER, "--suites", "control,dynamics"], "unknown suite 'dynamics'"),
        (["--encoder", TINY_ENCODER, "--seeds", "0"], "--seeds: expected >= 1"),
        (["--encoder", TINY_ENCODER, "--pca-dims", "many"], "--pca-dims: expected 'auto'"),
    ],
)
def test_bad_run_options_are_one_line_errors(data, tmp_path, capsys, options, expected):
    args = ["run", "--data", str(data), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"), *options]
    assert main([*args, "--no-progress"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("dynaflip-probe: error: ") and expected in error and "\n" not in error


def test_missing_or_incomplete_data_folders_are_named(data, tmp_path, capsys):
    run = ["run", "--encoder", TINY_ENCODER, "--out", str(tmp_path / "out"), "--no-progress"]
    assert main([*run, "--data", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([*run, "--data", str(tmp_path / "empty")]) == 2
    assert "dataset.json' is missing" in capsys.readouterr().err
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "dataset.json").write_text((data / "dataset.json").read_text())
    assert main([*run, "--data", str(partial)]) == 2
    error = capsys.readouterr().err
    assert "train.npz' of split 'train' is missing" in error and error.count("\n") == 1


def test_run_exports_are_named_after_their_run_not_their_folder(tmp_path):
    from dynaflip.eval.encoders import folder_display_name

    for relative, expected in [
        ("runs/dynaflip/export", "dynaflip"),
        ("runs/image-only/checkpoints/step-00000008", "image-only"),
        ("models/my-encoder", "my-encoder"),
    ]:
        (tmp_path / relative).mkdir(parents=True)
        assert folder_display_name(tmp_path / relative) == expected


def test_the_probes_png_title_and_notes_fit_inside_the_figure():
    from dynaflip.eval.probe.plot import draw_probes
    from dynaflip.eval.results import ResultRow

    rows = [ResultRow("task", "id", "accuracy", 0.5, 0.3, 0.7, [0.5], {"tasks": 4})]  # one panel: a narrow figure
    subtitle = "n = 2 test episodes x 2 probe seed(s), no intervals; hatched bars: value below -1, cut at the axis"
    figure = draw_probes(rows, title="vit_tiny_patch16_224 (random) on probe data 0123456789ab", subtitle=subtitle)
    try:
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        box, frame = figure._suptitle.get_window_extent(renderer), figure.bbox
        assert box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y1 <= frame.y1, (box, frame)
        panel = figure.axes[0].get_tightbbox(renderer)
        assert panel.y1 <= box.y0 + 1  # the panel starts below the title's last line
        assert "no intervals" in figure._suptitle.get_text().replace("\n", " ")
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)


def test_probes_png_is_bounded_and_marks_clipped_bars():
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from dynaflip.eval.probe.plot import SCORE_FLOOR, draw_probes
    from dynaflip.eval.results import ResultRow

    nan = float("nan")
    rows = [
        ResultRow("ee_pos", "id", "score", 0.8, 0.7, 0.9, [0.8]),
        ResultRow("ee_pos", "lighting", "score", -3.2, -4.0, -2.5, [-3.2]),  # far below the axis
        ResultRow("ee_pos", "table", "score", -0.5, -1.4, 0.1, [-0.5]),  # its interval runs below the axis
        ResultRow("median", "id", "score", 0.6, nan, nan, [0.6]),  # no interval: no error bar
        ResultRow("median", "lighting", "score", -2.0, nan, nan, [-2.0]),
        ResultRow("median", "table", "score", -0.4, nan, nan, [-0.4]),
        ResultRow("task", "id", "accuracy", 1.0, nan, nan, [1.0], {"tasks": 3, "seeds": 1, "episodes": 3}),
    ]
    figure = draw_probes(rows, title="t", subtitle="n = 9 test episodes x 3 probe seed(s)")
    try:
        axes = {axis.get_title(): axis for axis in figure.axes}
        assert list(axes) == ["median over probes", "ee_pos", "task"]
        for name in ("median over probes", "ee_pos"):
            assert axes[name].get_ylim() == (SCORE_FLOOR, 1.05)
        assert axes["task"].get_ylim() == (0.0, 1.05)
        bars = [p for p in axes["ee_pos"].patches if isinstance(p, Rectangle)]
        hatched = [bar.get_hatch() for bar in bars]
        assert hatched == [None, "///", None]  # only the bar cut at the axis is hatched
        assert bars[1].get_y() + bars[1].get_height() == SCORE_FLOOR
        assert "-3.2" in [text.get_text() for text in axes["ee_pos"].texts]
        # Error bars only where there is an interval (none in the median panel).
        assert len(axes["ee_pos"].collections) >= 1 and not axes["median over probes"].collections
        # The task probe's chance level (1 / 3 tasks, from the rows' n or given), dashed and labelled.
        dashed = [line for line in axes["task"].get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == 1 and dashed[0].get_ydata()[0] == pytest.approx(1 / 3)
        assert axes["task"].get_legend().get_texts()[0].get_text() == "chance (0.33)"
        assert not [line for line in axes["ee_pos"].get_lines() if line.get_linestyle() == "--"]
        assert "hatched bars" in figure._suptitle.get_text() and "n = 9" in figure._suptitle.get_text()
    finally:
        plt.close(figure)
