"""Probe datasets: labels from the simulator, splits by episode, OOD splits that change pixels only."""

import json

import numpy as np
import pytest

from dynaflip.eval.probe import ProbeDataset
from tests.helpers.probe_data import TASKS, TINY_BUILD, tiny_probe_dataset

SHIFTS = ("camera", "lighting", "table", "distractors", "occlusion")
# Mean absolute RGB change (0-255) each shift must cause over the test frames; distractors are small objects.
MIN_CHANGE = {"camera": 3.0, "lighting": 3.0, "table": 1.0, "distractors": 0.15, "occlusion": 3.0}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return ProbeDataset(tiny_probe_dataset(tmp_path_factory))


def test_manifest_documents_the_dataset(data):
    manifest = data.manifest
    settings = manifest["settings"]
    assert manifest["complete"] and len(data.dataset_id) == 16
    assert data.tasks == list(TASKS)
    assert settings["frames_per_episode"] == 3 and settings["horizon"] == 6 and settings["grid_size"] == 4
    assert settings["image_size"] == 64 and settings["shifts"] == list(SHIFTS)
    assert manifest["horizon_seconds"] == pytest.approx(6 / 80)
    assert set(manifest["labels"]) >= {"ee_pos", "gripper", "object_pos", "task", "flow", "flow_valid"}
    assert manifest["labels"]["flow"]["shape"] == [4, 4, 3] and manifest["labels"]["flow"]["units"] == "m"
    assert list(manifest["splits"]) == ["train", "val", "test-id", *(f"test-{s}" for s in SHIFTS)]
    assert data.test_splits == ["test-id", *(f"test-{s}" for s in SHIFTS)]


def test_splits_hold_disjoint_whole_episodes(data):
    episodes = {}
    for split in ("train", "val", "test-id"):
        labels = data.labels(split)
        pairs = set(zip(labels["task"].tolist(), labels["episode_seed"].tolist(), strict=True))
        listed = {(data.tasks.index(e["task"]), e["seed"]) for e in data.manifest["splits"][split]["episodes"]}
        assert pairs == listed
        episodes[split] = pairs
    assert not episodes["train"] & episodes["val"] and not episodes["train"] & episodes["test-id"]
    assert not episodes["val"] & episodes["test-id"]
    assert len(episodes["train"]) == 4 and len(episodes["val"]) == 2 and len(episodes["test-id"]) == 2


def test_labels_have_the_documented_shapes_and_values(data):
    labels, images = data.labels("train"), data.images("train")
    count = data.num_frames("train")
    assert count == 12 and images.shape == (count, 64, 64, 3) and images.dtype == np.uint8
    assert labels["ee_pos"].shape == (count, 3) and labels["object_pos"].shape == (count, 3)
    assert labels["gripper"].shape == (count,) and np.all((labels["gripper"] >= 0) & (labels["gripper"] <= 1))
    assert labels["flow"].shape == (count, 4, 4, 3) and labels["flow_valid"].dtype == bool
    assert np.all(labels["flow"][~labels["flow_valid"]] == 0)
    moving = np.linalg.norm(labels["flow"], axis=-1)[labels["flow_valid"]]
    assert 0.2 < labels["flow_valid"].mean() <= 1.0
    assert moving.max() > 1e-3 and moving.max() < 0.2  # the arm moves, by centimetres in 6 steps
    assert np.all(np.diff(labels["step"].reshape(-1, 3), axis=1) > 0)  # frames spread along each episode
    assert set(labels["task"].tolist()) == {0, 1}
    # The hand position varies along the episodes: something to regress.
    assert labels["ee_pos"].std(axis=0).max() > 0.01


@pytest.mark.parametrize("shift", SHIFTS)
def test_ood_splits_change_pixels_but_not_labels(data, shift):
    from dynaflip.sim import sample_shift

    reference, shifted = data.labels("test-id"), data.labels(f"test-{shift}")
    view = {"flow", "flow_valid"} if shift == "camera" else set()  # the camera's own grid and frame
    assert set(data.relabelled(f"test-{shift}")) == view
    for key, value in reference.items():
        if key not in view:
            np.testing.assert_array_equal(shifted[key], value, err_msg=key)
    if view:
        assert not np.array_equal(shifted["flow"], reference["flow"])
        assert np.all(shifted["flow"][~shifted["flow_valid"]] == 0) and shifted["flow_valid"].mean() > 0.2
    change = np.abs(data.images(f"test-{shift}").astype(int) - data.images("test-id")).mean(axis=(1, 2, 3))
    assert change.min() > MIN_CHANGE[shift], change
    for episode in data.manifest["splits"][f"test-{shift}"]["episodes"]:
        recorded = episode["shift"]
        assert recorded["name"] == shift
        assert json.loads(json.dumps(sample_shift(shift, seed=recorded["seed"]).params)) == recorded["params"]


def test_the_camera_shift_re_expresses_the_flow_for_its_own_view():
    """The flow under a moved camera is computed from that camera's render: a camera 'shift' that does not
    move gives exactly the ID labels, a real one other labels of the same motion."""
    from dynaflip.eval.probe.episode import probe_episode, release_simulators
    from dynaflip.sim import Shift, sample_shift

    still = Shift("camera", seed=0, params={"azimuth_degrees": 0.0, "elevation_degrees": 0.0, "roll_degrees": 0.0,
                                            "distance_scale": 1.0})  # fmt: skip
    moved = sample_shift("camera", seed=3)
    options = {"task_index": 0, "image_size": 48, "frames": 2, "horizon": 6, "grid_size": 6, "camera": "corner"}
    try:
        arrays = probe_episode("reach-v3", seed=5, max_steps=60, shifts=[still], **options)
        assert np.abs(arrays["flow-camera"] - arrays["flow"]).max() < 1e-5
        assert np.array_equal(arrays["flow_valid-camera"], arrays["flow_valid"])
        arrays = probe_episode("reach-v3", seed=5, max_steps=60, shifts=[moved], **options)
    finally:
        release_simulators()
    assert not np.allclose(arrays["flow-camera"], arrays["flow"])
    # The moving hand is seen by both grids; its displacement is the same motion, so of a similar size.
    ours, theirs = (np.linalg.norm(arrays[key], axis=-1).max() for key in ("flow-camera", "flow"))
    assert ours > 1e-3 and 0.3 < ours / theirs < 3


def test_a_second_build_resumes_to_nothing_and_other_settings_are_refused(data, capsys):
    from dynaflip.eval.probe_cli import main

    files = [*sorted(data.root.glob("*.npz")), data.root / "dataset.json"]
    before = [path.stat().st_mtime_ns for path in files]
    assert main(["build-data", "--out", str(data.root), *TINY_BUILD]) == 0
    assert "already complete" in capsys.readouterr().out
    assert [path.stat().st_mtime_ns for path in files] == before
    changed = [*TINY_BUILD[:-1], "--horizon", "5"]
    assert main(["build-data", "--out", str(data.root), *changed]) == 2
    error = capsys.readouterr().err.strip()
    assert "horizon=6, not 5" in error and "--overwrite" in error and "\n" not in error


def test_bad_build_options_are_one_line_errors(tmp_path, capsys):
    from dynaflip.eval.probe_cli import main

    cases = [
        (["--tasks", "reach-v4"], "reach-v3"),
        (["--tasks", "reach-v3", "--episodes-per-task", "3"], "leaves -1 train episodes"),
        (["--tasks", "reach-v3", "--shifts", "fog"], "unknown shift 'fog'"),
    ]
    for options, expected in cases:
        assert main(["build-data", "--out", str(tmp_path / "x"), *options, "--no-progress"]) == 2
        error = capsys.readouterr().err.strip()
        assert expected in error and error.count("\n") == 0
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    assert main(["build-data", "--out", str(tmp_path / "full"), "--tasks", "reach-v3", "--no-progress"]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_an_interrupted_build_resumes_and_workers_build_the_same_data(tmp_path, capsys):
    import os
    import subprocess
    import sys
    import time

    from dynaflip.eval.probe_cli import main

    options = ["--tasks", "reach-v3", "--episodes-per-task", "4", "--val-episodes", "1", "--test-episodes", "1",
               "--frames-per-episode", "2", "--image-size", "48", "--no-progress"]  # fmt: skip
    interrupted = tmp_path / "interrupted"
    command = [sys.executable, "-m", "dynaflip.eval.probe_cli", "build-data", "--out", str(interrupted), *options]
    process = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list((interrupted / "parts").glob("*.npz")) and process.poll() is None:
            assert time.monotonic() < deadline, "no episode finished within 120 s"
            time.sleep(0.02)
    finally:
        process.kill()
        _, stderr = process.communicate()
    assert not (interrupted / "dataset.json").exists(), stderr.decode()[-2000:]
    assert main(["run", "--data", str(interrupted), "--encoder", "random:vit_tiny_patch16_224", "--out",
                 str(tmp_path / "o")]) == 2  # fmt: skip
    assert "the build did not finish" in capsys.readouterr().err
    assert main(["build-data", "--out", str(interrupted), *options]) == 0
    summary = capsys.readouterr().out
    assert " resumed" in summary and " 0 resumed" not in summary
    assert not (interrupted / "parts").exists() and not (interrupted / "build.json").exists()
    assert main(["build-data", "--out", str(tmp_path / "workers"), *options, "--workers", "2"]) == 0
    capsys.readouterr()
    resumed, parallel = ProbeDataset(interrupted), ProbeDataset(tmp_path / "workers")
    assert resumed.dataset_id == parallel.dataset_id  # same bytes, however it was built
