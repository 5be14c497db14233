"""``dynaflip-probe run`` end to end on the tiny probe dataset: random and timm encoders, result files,
the feature cache, and one-line errors."""

import json

import numpy as np
import pytest
import torch

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
    assert {row.group for row in rows} == PROBES and {row.split for row in rows} == SPLITS
    for row in rows:
        assert row.metric == ("accuracy" if row.group == "task" else row.metric)
        assert len(row.values) == seeds and row.low <= row.mean <= row.high
        assert np.isfinite(row.mean) or row.group == "gripper"  # a split may hold one gripper opening only
    metrics = {(row.group, row.metric) for row in rows}
    assert ("future_flow", "r2") in metrics and ("ee_pos", "mse") in metrics and ("task", "accuracy") in metrics
    markdown = (folder / "results.md").read_text()
    assert "| probe | metric | ID | camera | lighting | table | distractors | occlusion |" in markdown
    assert "| future_flow | R² |" in markdown and " ± " in markdown
    assert (folder / "probes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return results


def test_random_encoder_end_to_end_and_features_come_from_the_cache(data, tmp_path, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["run", "--data", str(data), "--encoder", TINY_ENCODER, "--out", str(out), "--cache", str(cache)]
    assert main([*args, "--seeds", "2", *FAST]) == 0
    printed = capsys.readouterr().out
    assert "img/s" in printed and "| future_flow | R² |" in printed
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
    assert {row.group for row in again["rows"]} == {"ee_pos", "gripper", "object_pos"}
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
