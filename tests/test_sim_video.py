"""Episodes: recording, the plain-folder files (mp4 + sidecars), and resumable generation."""

import json

import numpy as np
import pytest

pytest.importorskip("mujoco")
pytest.importorskip("metaworld")
pytest.importorskip("av")

from dynaflip.sim import generate_episodes, read_episode, record_episode, write_episode
from dynaflip.sim.episodes import STATE_FIELDS
from dynaflip.sim.video import episode_name, write_mp4

SIZE = (96, 96)


@pytest.fixture(scope="module")
def episode():
    return record_episode("reach-v3", seed=3, image_size=SIZE, max_steps=30, with_segmentation=True)


def test_recorded_arrays_line_up(episode):
    steps = episode.num_frames
    assert steps == 30 and not episode.success[:-1].any()
    assert episode.rgb.shape == (steps, *SIZE, 3) and episode.rgb.dtype == np.uint8
    assert episode.depth.shape == (steps, *SIZE) and episode.depth.dtype == np.float32
    assert episode.segmentation.shape == (steps, *SIZE) and episode.segmentation.dtype == np.int32
    assert episode.cam_to_world.shape == (steps, 4, 4) and episode.intrinsics.shape == (3, 3)
    assert episode.actions.shape == (steps, 4) and episode.actions.dtype == np.float32
    assert episode.body_poses.shape == (steps, len(episode.body_names), 7)
    assert episode.ee_pos.shape == (steps, 3) and episode.gripper.shape == (steps,)
    assert episode.fps == pytest.approx(80.0) and episode.instruction == "reach to the goal position"
    np.testing.assert_allclose(episode.ee_pos, episode.body_poses[:, episode.body_names.index("hand"), :3])


def test_recording_stops_at_success():
    short = record_episode("reach-v3", seed=3, image_size=(32, 32), max_steps=200)
    assert short.succeeded and short.success[-1] and not short.success[:-1].any()
    assert short.num_frames < 200


def test_written_episode_reads_back(tmp_path, episode):
    paths = write_episode(episode, tmp_path)
    name = episode_name("reach-v3", 3)
    assert paths[".mp4"] == tmp_path / f"{name}.mp4" and (tmp_path / f"{name}.seg.npz").is_file()
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))
    back = read_episode(tmp_path, name)
    assert back.rgb.shape == episode.rgb.shape
    mse = np.mean((back.rgb.astype(np.float64) - episode.rgb) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30
    np.testing.assert_array_equal(back.depth, episode.depth)
    np.testing.assert_array_equal(back.cam_to_world, episode.cam_to_world)
    np.testing.assert_array_equal(back.segmentation, episode.segmentation)
    for field in STATE_FIELDS:
        np.testing.assert_array_equal(getattr(back, field), getattr(episode, field))
    sidecar = json.loads(paths[".json"].read_text())
    assert sidecar["instruction"] == episode.instruction and sidecar["embodiment"] == "sim"
    assert sidecar["source"] == "metaworld" and sidecar["task"] == "reach-v3" and sidecar["seed"] == 3
    assert sidecar["camera"] == "corner" and sidecar["shift"] is None and sidecar["fps"] == 80.0
    np.testing.assert_allclose(sidecar["intrinsics"], episode.intrinsics, rtol=1e-6)
    with np.load(paths[".state.npz"]) as state:  # loads without pickle, first axis = frames
        assert all(state[key].shape[0] == episode.num_frames for key in state.files if key != "body_names")
        assert state["body_names"].tolist() == episode.body_names


def test_odd_frame_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="even width and height"):
        write_mp4(np.zeros((2, 63, 64, 3), dtype=np.uint8), tmp_path / "odd.mp4", fps=80.0)
    assert not list(tmp_path.iterdir())


def test_generation_is_reproducible_and_resumes(tmp_path):
    options = {"episodes_per_task": 2, "out_dir": tmp_path, "seed": 10, "image_size": (32, 32), "max_steps": 8}
    first = generate_episodes(["reach-v3"], progress=False, shift="lighting", **options)
    assert (first.written, first.skipped, first.frames) == (2, 0, 16)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names[0] == "reach-v3_lighting_seed000010.depth.npz" and len(names) == 8
    again = generate_episodes(["reach-v3"], progress=False, shift="lighting", **options)
    assert (again.written, again.skipped) == (0, 2)
    assert sorted(path.name for path in tmp_path.iterdir()) == names
    sidecar = json.loads((tmp_path / "reach-v3_lighting_seed000011.json").read_text())
    assert sidecar["seed"] == 11 and sidecar["shift"] == "lighting" and sidecar["shift_seed"] == 11


def test_generation_in_worker_processes(tmp_path):
    summary = generate_episodes(
        ["reach-v3", "button-press-topdown-v3"],
        episodes_per_task=1,
        out_dir=tmp_path,
        image_size=(32, 32),
        max_steps=4,
        workers=2,
        progress=False,
    )
    assert summary.written == 2 and summary.frames == 8
    assert len(list(tmp_path.glob("*.mp4"))) == 2


def test_generation_checks_its_inputs(tmp_path):
    with pytest.raises(ValueError, match="task"):
        generate_episodes(["reach"], episodes_per_task=1, out_dir=tmp_path)
    with pytest.raises(ValueError, match="even"):
        generate_episodes(["reach-v3"], episodes_per_task=1, out_dir=tmp_path, image_size=(33, 32))


def test_a_shift_below_full_severity_is_recorded_with_its_level(tmp_path, episode):
    import dataclasses

    from dynaflip.sim.shifts import sample_shift

    shifted = dataclasses.replace(episode, shift=sample_shift("lighting@0.5", seed=4))
    paths = write_episode(shifted, tmp_path)
    name = episode_name("reach-v3", 3, shift="lighting@0.5")
    assert "." not in name and paths[".mp4"] == tmp_path / f"{name}.mp4"  # no dot: a shard key splits on dots
    assert json.loads(paths[".json"].read_text())["shift"] == "lighting@0.5"
    back = read_episode(tmp_path, name)
    assert back.shift == shifted.shift and back.shift.label == "lighting@0.5"
