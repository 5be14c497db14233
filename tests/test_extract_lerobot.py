"""The LeRobot source on small datasets written in both official layouts (v2.1 and v3.0).

Every frame shows its global index and camera as a code (tests/helpers/lerobot_dataset.py), so each check of
"the right frames" reads the pixels, never the metadata the source itself read. The v3.0 dataset has an AV1
camera (SVT-AV1, LeRobot's default) and an H.264 camera grouped differently into shared files (3 and 2
episodes per file: non-zero from_timestamp), a 12-bit depth video grouped like the H.264 camera (so its
episodes start at other times than the AV1 camera's) and an image camera (PNG in the parquet).
"""

import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import webdataset as wds

from dynaflip.extract.cli import main
from dynaflip.extract.clips import ClipSpec, SkippedClip
from dynaflip.extract.depth.depth_video import QMAX, DepthVideo
from dynaflip.extract.sources.lerobot import LeRobotFormatError, iter_lerobot_clips, parse_episode_spec
from dynaflip.extract.sources.lerobot.selection import select_cameras
from dynaflip.extract.video import decode_frames, probe_video
from dynaflip.schema import decode_sample
from tests.helpers.lerobot_dataset import DEPTH, DEPTH_KEY, WIDTH, read_code, write_dataset
from tests.helpers.training import REPO, environment

TOP, WRIST, SIDE = "observation.images.top", "observation.images.wrist", "observation.images.side"
TOP_INTRINSICS = [70.0, 72.0, 63.5, 47.5]  # fx, fy, cx, cy at 128 x 96
# Small and fast: native 128 x 96, 6 x 6 grid, half-second windows at 10 fps; the texture slides uniformly, so
# ego-motion removal (which would take it for camera motion) is off.
SETTINGS = [
    "sampling.horizon_seconds=0.5",
    "sampling.grid_size=6",
    "sampling.flow_steps=3",
    "output.image_size=0",
    "output.text_embeddings=false",
    "ego_motion.mode=disabled",
    "assume_fovy_degrees=60",
]
NO_DEPTH = ["depth.backend=none", "depth.allow_2_5d=true"]


@pytest.fixture(scope="module")
def v3(tmp_path_factory):
    return write_dataset(
        tmp_path_factory.mktemp("lerobot") / "so100_v3",
        version="v3.0",
        episodes_per_video_file={WRIST: 2, DEPTH_KEY: 2},
        depth=True,
        intrinsics={TOP: TOP_INTRINSICS},
        image_cameras=(SIDE,),
    )


@pytest.fixture(scope="module")
def v2(tmp_path_factory):
    # chunks_size 2: episodes 2 and 3 live in chunk-001 (the episode_chunk template field)
    return write_dataset(tmp_path_factory.mktemp("lerobot") / "so100_v2", version="v2.1", chunks_size=2)


def clips_of(root, **options):
    items = list(iter_lerobot_clips(root, image_cache=root.parent / "image-cache", **options))
    return [i for i in items if isinstance(i, ClipSpec)], [i for i in items if isinstance(i, SkippedClip)]


def expected_ids(dataset, cameras):
    names = {TOP: "observation_images_top", WRIST: "observation_images_wrist", SIDE: "observation_images_side"}
    ids = []
    for episode in dataset.episodes:
        runs = len(dict.fromkeys(episode.task_indices))
        for camera in cameras:
            base = f"episode_{episode.index:06d}-{names[camera]}"
            ids += [base] if runs == 1 else [f"{base}-seg{n:02d}" for n in range(1, runs + 1)]
    return sorted(ids)


@pytest.mark.parametrize("layout", ["v3", "v2"])
def test_each_clip_decodes_to_exactly_its_episode_frames(layout, request):
    """Per (episode, camera, task segment): the decoded span holds exactly the segment's frames of that camera
    (read from the pixels), the instruction is the task of those frames, the ids show episode and camera."""
    dataset = request.getfixturevalue(layout)
    clips, skipped = clips_of(dataset.root)
    assert skipped == []
    cameras = list(dataset.cameras)
    assert sorted(c.clip_id for c in clips) == expected_ids(dataset, cameras)
    for clip in clips:
        meta = clip.extras["lerobot"]
        episode = dataset.episodes[meta["episode_index"]]
        first, last = meta["episode_frames"]
        decoded = decode_frames(clip.video_path, start_seconds=clip.start_seconds, end_seconds=clip.end_seconds)
        shown = [read_code(frame) for frame in decoded.frames]
        camera = dataset.cameras[meta["camera"]]
        assert shown == [(camera, g) for g in episode.global_indices[first : last + 1]], clip.clip_id
        tasks = {dataset.tasks[t] for t in episode.task_indices[first : last + 1]}
        assert tasks == {clip.instruction}, clip.clip_id
        assert clip.embodiment == "robot" and clip.source == "lerobot"
        assert clip.video_id == f"{dataset.root.name}/episode_{episode.index:06d}"
        # within 1 ms of the first frame, so stored timestamps count from the episode's (segment's) frame
        assert 0 <= decoded.timestamps[0] - clip.start_seconds <= 1.001e-3
    # Episode 2 changes task at frame 7: two clips per camera, split there.
    split = sorted(c.extras["lerobot"]["episode_frames"] for c in clips if c.clip_id.startswith("episode_000002-"))
    assert split == [[0, 6]] * len(cameras) + [[7, 13]] * len(cameras)


def test_v3_shared_files_hold_several_episodes_and_av1_decodes(v3):
    clips, _ = clips_of(v3.root)
    spans = {(c.extras["lerobot"]["camera"], c.extras["lerobot"]["episode_index"]): c for c in clips}
    top, wrist = spans[(TOP, 1)], spans[(WRIST, 2)]
    assert top.video_path.endswith("videos/observation.images.top/chunk-000/file-000.mp4")
    assert top.extras["lerobot"]["from_timestamp"] == pytest.approx(1.2)  # after episode 0's 12 frames
    assert spans[(TOP, 2)].extras["lerobot"]["from_timestamp"] == pytest.approx(2.1)
    assert wrist.video_path.endswith("videos/observation.images.wrist/chunk-000/file-001.mp4")
    assert wrist.extras["lerobot"]["from_timestamp"] == 0.0  # the wrist camera puts 2 episodes per file
    assert probe_video(top.video_path).codec in ("av1", "libdav1d")  # the codec, or FFmpeg's AV1 decoder
    assert probe_video(wrist.video_path).codec == "h264"
    assert top.intrinsics == ((70.0, 0.0, 63.5), (0.0, 72.0, 47.5), (0.0, 0.0, 1.0))
    assert wrist.intrinsics is None
    # The depth video pairs with the top camera by name; its own file grouping gives its own time offset.
    assert top.depth_path.endswith(f"videos/{DEPTH_KEY}/chunk-000/file-000.mp4")
    assert top.extras["depth_video"]["units"] == "metres"
    assert wrist.depth_path is None and "depth_video" not in wrist.extras


def test_episodes_and_cameras_are_selected(v3):
    clips, _ = clips_of(v3.root, episodes="1-2,3", cameras=[WRIST])
    assert sorted(c.clip_id for c in clips) == [
        "episode_000001-observation_images_wrist",
        "episode_000002-observation_images_wrist-seg01",
        "episode_000002-observation_images_wrist-seg02",
        "episode_000003-observation_images_wrist",
    ]
    assert parse_episode_spec("0-3, 7,5-5") == [0, 1, 2, 3, 5, 7]
    for spec in ("1-", "a", "3-1", ""):
        with pytest.raises(ValueError, match="--episodes"):
            parse_episode_spec(spec)
    with pytest.raises(ValueError, match=r"episode\(s\) 9 not in"):
        clips_of(v3.root, episodes="2,9")
    with pytest.raises(ValueError, match=r"expected one of: observation\.images\.top, observation\.images\.wrist"):
        clips_of(v3.root, cameras=["observation.images.nope"])
    with pytest.raises(ValueError, match="depth map"):
        clips_of(v3.root, cameras=[DEPTH_KEY])


def test_cli_help_and_depth_key_syntax(v3, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["lerobot", "--help"])
    assert exit_info.value.code == 0 and "--episodes SPEC" in capsys.readouterr().out
    args = ["lerobot", str(v3.root), "--out", str(tmp_path), "--no-progress", "--depth-key", "top", *SETTINGS]
    assert main(args) == 2
    assert "--depth-key: expected CAMERA=DEPTH, got 'top'" in capsys.readouterr().err


def test_depth_pairing_by_name_and_explicit(v3):
    from dynaflip.extract.sources.lerobot.meta import read_meta

    meta = read_meta(v3.root)
    assert {c.key: c.depth_key for c in select_cameras(meta)} == {TOP: DEPTH_KEY, WRIST: None, SIDE: None}
    explicit = select_cameras(meta, depth_keys={WRIST: DEPTH_KEY})
    assert {c.key: c.depth_key for c in explicit}[WRIST] == DEPTH_KEY
    with pytest.raises(ValueError, match="not a depth video"):
        select_cameras(meta, depth_keys={WRIST: TOP})


@pytest.mark.parametrize(
    ("version", "fragment"),
    [("v1.6", "v1.6 is not a layout this reader knows"), ("v4.0", "v4.0 is not a layout"), (None, "vMAJOR.MINOR")],
)
def test_unknown_codebase_version_is_a_one_line_error(v2, tmp_path, capsys, version, fragment):
    root = tmp_path / "dataset"
    shutil.copytree(v2.root, root)
    info = json.loads((root / "meta/info.json").read_text())
    info["codebase_version"] = version
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(LeRobotFormatError, match=fragment):
        clips_of(root)
    assert main(["lerobot", str(root), "--out", str(tmp_path / "out"), "--no-progress", *SETTINGS]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "codebase_version" in error and "meta/info.json" in error


def test_without_intrinsics_a_field_of_view_must_be_given(v3, tmp_path, capsys):
    settings = [s for s in SETTINGS if not s.startswith("assume_fovy")]
    args = ["lerobot", str(v3.root), "--no-progress", *settings, *NO_DEPTH]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "no intrinsics for camera(s) observation.images.wrist, observation.images.side" in error
    assert "assume_fovy_degrees" in error
    # The top camera's intrinsics are in the dataset: it runs without an assumed field of view.
    assert main([*args, "--out", str(tmp_path / "b"), "--camera", TOP, "--episodes", "0"]) == 0
    samples = read_samples(tmp_path / "b")
    assert samples and all(np.allclose(s.intrinsics[0, 0], 70.0) for s in samples)


def read_samples(folder):
    shards = sorted(str(p) for p in folder.glob("shard-*.tar"))
    return [decode_sample(s) for s in wds.WebDataset(shards, shardshuffle=False, empty_check=False)]


def check_sample_frames(dataset, sample):
    """The five stored frames come from the sample's camera and episode segment, in order, at the times stored."""
    meta = sample.extras["lerobot"]
    episode = dataset.episodes[meta["episode_index"]]
    first, last = meta["episode_frames"]
    shown = [read_code(frame) for frame in sample.frames]
    frames = [first + round(t * dataset.fps) for t in sample.timestamps]
    assert shown == [(dataset.cameras[meta["camera"]], episode.first_global + k) for k in frames], sample.key
    assert all(first <= k <= last for k in frames) and frames == sorted(set(frames)), sample.key
    assert {dataset.tasks[episode.task_indices[k]] for k in frames} == {sample.instruction}
    assert f"episode_{episode.index:06d}" in sample.key and meta["camera"].replace(".", "_") in sample.key


def test_extraction_v2_every_camera(v2, tmp_path):
    out = tmp_path / "out"
    assert main(["lerobot", str(v2.root), "--out", str(out), "--no-progress", *SETTINGS, *NO_DEPTH]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["skipped"] == {} and manifest["source"] == "lerobot"
    plan = json.loads((out / "plan.json").read_text())
    clip_ids = sorted(i for shard in plan["shards"] for i in shard["clip_ids"])
    assert clip_ids == expected_ids(v2, [TOP, WRIST])
    samples = read_samples(out)
    assert len(samples) == manifest["num_samples"] >= len(clip_ids)
    for sample in samples:
        check_sample_frames(v2, sample)
        assert sample.embodiment == "robot" and sample.depth_kind == "none"


def test_extraction_v3_with_recorded_depth_video(v3, tmp_path):
    """The top camera's samples lift with the 12-bit depth video (metres, within half a quantization step);
    cameras without a depth stream are counted skips under the recorded backend."""
    out = tmp_path / "out"
    assert main(["lerobot", str(v3.root), "--out", str(out), "--no-progress", *SETTINGS]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"]
    assert manifest["skipped"] == {"depth-unavailable": 10}  # wrist and side: 5 clips each
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert sorted({s["clip_id"].split("-")[1] for s in skipped}) == [
        "observation_images_side",
        "observation_images_wrist",
    ]
    samples = read_samples(out)
    assert len(samples) >= 5
    for sample in samples:
        check_sample_frames(v3, sample)
        assert sample.depth_kind == "metric" and sample.extras["depth_video"]["stream"] == DEPTH_KEY
        # True depth at a lifted point: the plane 0.6 + 0.02 g + 0.3 x / W metres (g the global frame index).
        meta = sample.extras["lerobot"]
        episode = v3.episodes[meta["episode_index"]]
        k = meta["episode_frames"][0] + round(float(sample.timestamps[0]) * v3.fps)
        g = episode.first_global + k
        valid = sample.points3d_valid[0]
        x = sample.tracks2d[0][valid, 0]
        truth = 0.6 + 0.02 * g + 0.3 * x / WIDTH
        # half a code of the log quantization, in metres, at this depth
        half_code = 0.5 * (np.log(DEPTH.depth_max + DEPTH.shift) - np.log(DEPTH.depth_min + DEPTH.shift)) / QMAX
        bound = half_code * (truth + DEPTH.shift) + 1e-4
        assert valid.mean() > 0.9 and np.all(np.abs(sample.points3d[0][valid, 2] - truth) <= bound), sample.key


def test_depth_video_quantization_round_trip():
    """LeRobot's 12-bit quantization and its inverse, against the closed-form step (float64): a depth comes
    back within half a code, i.e. half of (log(max + shift) - log(min + shift)) / 4095 times (d + shift)."""
    depth = np.linspace(0.01, 10.0, 20001)
    for use_log in (True, False):
        spec = DepthVideo(path="", stream="d", time_offset_seconds=0.0, frame_interval_seconds=0.1, use_log=use_log)
        codes = spec.quantize(depth)
        back = spec.dequantize(codes).astype(np.float64)
        if use_log:
            step = (np.log(10.0 + 3.5) - np.log(0.01 + 3.5)) / QMAX * (depth + 3.5)
        else:
            step = np.full_like(depth, (10.0 - 0.01) / QMAX)
        inside = (codes > 0) & (codes < QMAX)  # the end codes are holes / saturation: unknown (0)
        assert inside.mean() > 0.999 and np.all(back[~inside] == 0)
        assert np.all(np.abs(back - depth)[inside] <= 0.5 * step[inside] * 1.001 + 1e-6)
        assert np.abs(back - depth)[inside].max() > 0.3 * step.min()  # the instrument resolves the quantization
    spec = DepthVideo(path="", stream="d", time_offset_seconds=0.0, frame_interval_seconds=0.1)
    assert spec.dequantize(np.array([0, QMAX])).tolist() == [0.0, 0.0]  # a sensor hole, beyond depth_max
    low, high = spec.dequantize(np.array([1, QMAX - 1])).tolist()
    assert 0.01 < low < 0.015 and 9.98 < high < 10.0


def test_corrupt_parquet_and_missing_video_are_counted_with_their_names(v3, tmp_path):
    root = tmp_path / "dataset"
    shutil.copytree(v3.root, root)
    corrupt = root / "data/chunk-000/file-001.parquet"  # episode 3's frames
    corrupt.write_bytes(corrupt.read_bytes()[:200])
    missing = root / f"videos/{WRIST}/chunk-000/file-000.mp4"  # the wrist camera's episodes 0 and 1
    missing.unlink()
    out = tmp_path / "out"
    args = ["lerobot", str(root), "--out", str(out), "--no-progress", "--camera", TOP, "--camera", WRIST]
    assert main([*args, *SETTINGS, *NO_DEPTH]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"]
    assert manifest["skipped"] == {"missing-video": 2, "unreadable-parquet": 2}
    skipped = {s["clip_id"]: s for s in map(json.loads, (out / "skipped.jsonl").read_text().splitlines())}
    for camera in ("observation_images_top", "observation_images_wrist"):
        item = skipped[f"episode_000003-{camera}"]
        assert item["reason"] == "unreadable-parquet" and "data/chunk-000/file-001.parquet" in item["detail"]
    for episode in (0, 1):
        item = skipped[f"episode_{episode:06d}-observation_images_wrist"]
        assert item["reason"] == "missing-video" and str(missing) in item["detail"]
    assert all(len(s["detail"].splitlines()) == 1 for s in skipped.values())
    keys = {s.key.split("-r")[0] for s in read_samples(out)}
    assert "episode_000002-observation_images_wrist-seg01" in keys and "episode_000000-observation_images_top" in keys


def test_an_unreadable_episode_table_file_is_counted(v2, tmp_path):
    root = tmp_path / "dataset"
    shutil.copytree(v2.root, root)
    lines = (root / "meta/episodes.jsonl").read_text().splitlines()
    lines[1] = '{"episode_index": 1, "tasks": ['  # truncated
    (root / "meta/episodes.jsonl").write_text("\n".join(lines) + "\n")
    (root / "data/chunk-001/episode_000003.parquet").write_bytes(b"PAR1 not parquet")
    clips, skipped = clips_of(root, cameras=[TOP])
    assert [(s.reason, s.clip_id) for s in skipped] == [
        ("bad-episode-row", "episodes-line2"),
        ("unreadable-parquet", "episode_000003-observation_images_top"),
    ]
    assert "episodes.jsonl:2: invalid JSON" in skipped[0].detail
    assert "chunk-001/episode_000003.parquet" in skipped[1].detail
    assert sorted(c.extras["lerobot"]["episode_index"] for c in clips) == [0, 2, 2]


def test_image_features_become_lossless_videos(v3):
    clips, _ = clips_of(v3.root, cameras=[SIDE], episodes="3")
    (clip,) = clips
    assert clip.video_path.endswith("observation.images.side/episode_000003.mkv")
    decoded = decode_frames(clip.video_path, start_seconds=clip.start_seconds, end_seconds=clip.end_seconds)
    assert [read_code(f) for f in decoded.frames] == [(v3.cameras[SIDE], g) for g in v3.episodes[3].global_indices]


def extraction_command(root, out):
    cli = [sys.executable, "-m", "dynaflip.extract.cli", "lerobot", str(root), "--out", str(out), "--no-progress"]
    return [*cli, "output.clips_per_shard=1", *SETTINGS, *NO_DEPTH]


def test_killed_run_resumes_with_the_same_keys(v2, tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(extraction_command(v2.root, clean), check=True, env=environment(), cwd=REPO, timeout=300)
    process = subprocess.Popen(extraction_command(v2.root, killed), env=environment(), cwd=REPO)
    deadline = time.time() + 240
    while time.time() < deadline and not (killed / "records" / "shard-000002.json").is_file():
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list((killed / "records").glob("*.json")))
    assert 3 <= done_before < 10, "the kill should land mid-run"
    subprocess.run(extraction_command(v2.root, killed), check=True, env=environment(), cwd=REPO, timeout=300)
    keys = sorted(s.key for s in read_samples(killed))
    assert keys == sorted(s.key for s in read_samples(clean)) and len(keys) == len(set(keys))
    manifest = json.loads((killed / "manifest.json").read_text())
    assert manifest["complete"] and manifest["duplicate_keys"] == 0 and manifest["num_samples"] == len(keys)


def test_nodes_split_the_clips(v2, tmp_path):
    args = ["lerobot", str(v2.root), "--out", str(tmp_path), "--no-progress", "--episodes", "0-1", "--num-nodes", "2"]
    settings = ["output.clips_per_shard=1", *SETTINGS, *NO_DEPTH]
    assert main([*args, "--node-rank", "1", *settings]) == 0
    assert not json.loads((tmp_path / "manifest.json").read_text())["complete"]
    assert main([*args, "--node-rank", "0", *settings]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["complete"] and manifest["num_clips"] == 4


def test_lerobot_reader_agrees_on_episode_boundaries(v3):
    """Cross-check with LeRobot's own metadata reader when the package is installed (it is not a dependency):
    its per-episode from_timestamp, length and tasks give the same frame times and instructions."""
    metadata = pytest.importorskip("lerobot.datasets.lerobot_dataset", reason="lerobot is not installed")
    meta = metadata.LeRobotDatasetMetadata("local/so100_v3", root=v3.root)
    clips, _ = clips_of(v3.root, cameras=[TOP, WRIST])
    for clip in clips:
        info = clip.extras["lerobot"]
        episode = meta.episodes[info["episode_index"]]
        start = episode[f"videos/{info['camera']}/from_timestamp"]
        first, last = info["episode_frames"]
        times = [start + k / meta.fps for k in range(episode["dataset_to_index"] - episode["dataset_from_index"])]
        inside = [k for k, t in enumerate(times) if clip.start_seconds <= t < clip.end_seconds]
        assert inside == list(range(first, last + 1)), clip.clip_id
        assert clip.instruction in list(episode["tasks"])
        task_index = info["task_index"]
        assert meta.tasks.iloc[task_index].name == clip.instruction
