"""Real footage, round 2 (issue 23), each case on generated files: portrait phone clips (a display matrix),
depth holes (a .depth.npz and a LeRobot depth video), a fixed camera with an object covering most of the view
(rendered with MuJoCo), a minimum of static points too low for OpenCV, LeRobot 0.6 datasets (subtasks, language
columns, depth_unit, a row group per episode, a span one frame short), and an AVI with B-frames."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from dynaflip.extract.cli import main
from dynaflip.extract.depth.relative import disparity_to_depth
from dynaflip.extract.egomotion import EgoMotionFailed, ReferencePoints, estimate_camera_motion
from dynaflip.extract.sources.lerobot import iter_lerobot_clips
from dynaflip.extract.video import VideoUnreadable, decode_frames, frame_index
from dynaflip.geometry import bilinear_depth, intrinsics_from_fov, query_grid
from tests.helpers.lerobot_dataset import write_dataset
from tests.helpers.moving_box import BoxTrajectory, MovingBoxScene, flow_errors, write_moving_box_video
from tests.helpers.video_files import (
    pattern_frame,
    read_number,
    stored_for_display,
    write_avi,
    write_frames,
    write_pattern_video,
)
from tests.test_extract_pipeline import GT_SETTINGS, read_samples

FRAMES = 40
PORTRAIT = (96, 160)  # displayed width, height


def run(videos, out, *overrides):
    code = main(["folder", str(videos), "--out", str(out), "--no-progress", *GT_SETTINGS, *overrides])
    assert code == 0
    return json.loads((out / "manifest.json").read_text()), read_samples(out)


def write_clip(folder, name, images, *, rotation=None, intrinsics=None, depth=None, **fields):
    write_frames(folder / f"{name}.mp4", images, display_rotation=rotation, options={"crf": "16"})
    sidecar = {"instruction": "slide the square", **fields}
    if intrinsics is not None:
        sidecar["intrinsics"] = intrinsics
    (folder / f"{name}.json").write_text(json.dumps(sidecar))
    if depth is not None:
        np.savez(folder / f"{name}.depth.npz", depth=depth)


# --- 1. portrait phone video ------------------------------------------------------------------------------------


def upright_frames(count=FRAMES, size=PORTRAIT):
    return [pattern_frame(number, width=size[0], height=size[1]) for number in range(count)]


@pytest.mark.parametrize("rotation", [-90, 180])
def test_a_display_matrix_is_applied_to_the_frames(tmp_path, rotation):
    """Before: a 96x160 portrait clip stored as 160x96 with -90 degrees decoded as 160 wide, 96 high (and at
    short side 64 as 107x64 wide-by-high instead of 64x107); the 180 degree one upside down."""
    upright = upright_frames(20)
    path = write_frames(
        tmp_path / "phone.mp4", [stored_for_display(f, rotation) for f in upright], display_rotation=rotation
    )
    index = frame_index(path)
    assert index.rotation == rotation % 360 and (index.width, index.height) == PORTRAIT
    assert index.stored_size == ((160, 96) if rotation == -90 else PORTRAIT)
    decoded = decode_frames(path)
    assert decoded.frames.shape == (20, 160, 96, 3)
    assert [read_number(frame) for frame in decoded.frames] == list(range(20))  # the barcode reads upright
    small = decode_frames(path, short_side=64)
    assert small.frames.shape[1:3] == (107, 64)
    assert [read_number(frame) for frame in small.frames] == list(range(20))


@pytest.fixture(scope="module")
def portrait_folder(tmp_path_factory):
    """Portrait clips (96x160 displayed; stored 160x96 tagged -90 degrees, or 96x160 tagged 180) with a depth file
    at the displayed aspect, and the same clip with a landscape depth file."""
    folder = tmp_path_factory.mktemp("portrait")
    upright = upright_frames()
    depth = np.full((FRAMES, 160, 96), 1.5, np.float32)
    portrait_k = [[110.0, 0.0, 47.5], [0.0, 110.0, 79.5], [0.0, 0.0, 1.0]]
    landscape_k = [[110.0, 0.0, 79.5], [0.0, 110.0, 47.5], [0.0, 0.0, 1.0]]
    for name, rotation, intrinsics, maps in (
        ("portrait_k", -90, portrait_k, depth),
        ("landscape_k", -90, landscape_k, depth),
        ("assumed_fov", -90, None, depth),
        ("upside_down", 180, None, depth),
        ("landscape_depth", -90, portrait_k, np.full((FRAMES, 96, 160), 1.5, np.float32)),
    ):
        write_clip(
            folder,
            name,
            [stored_for_display(f, rotation) for f in upright],
            rotation=rotation,
            intrinsics=intrinsics,
            depth=maps,
            **({"camera_fixed": True} if name == "upside_down" else {}),
        )
    return folder


def test_portrait_clips_get_portrait_intrinsics_and_depth(portrait_folder, tmp_path):
    manifest, samples = run(portrait_folder, tmp_path / "out", "assume_fovy_degrees=60")
    skipped = manifest["skipped_examples"]
    assert manifest["skipped"] == {"bad-intrinsics": 1, "depth-unavailable": 1}, skipped
    (landscape,) = skipped["bad-intrinsics"]
    assert "landscape_k.mp4" in landscape and "(79.5, 47.5) is far from the centre of the 96x160 video" in landscape
    assert "displayed rotated 270 degrees" in landscape and "unrotated" in landscape
    (aspect,) = skipped["depth-unavailable"]
    assert "landscape_depth.depth.npz" in aspect and "maps are 160x96" in aspect and "frames are 96x160" in aspect
    by_clip = {}
    for triplet in samples:
        by_clip.setdefault(triplet.video_id, []).append(triplet)
    assert set(by_clip) == {"portrait_k", "assumed_fov", "upside_down"}
    assumed = intrinsics_from_fov(fovy_degrees=60, width=96, height=160)  # before: width 160, height 96
    for name, triplets in by_clip.items():
        for triplet in triplets:
            assert triplet.frames[0].shape == (160, 96, 3)
            assert [read_number(frame) for frame in triplet.frames] == triplet.frame_indices.tolist()
            expected = [[110.0, 0.0, 47.5], [0.0, 110.0, 79.5], [0.0, 0.0, 1.0]] if name == "portrait_k" else assumed
            np.testing.assert_allclose(triplet.intrinsics, expected, rtol=1e-6)
            stored = [160, 96] if name != "upside_down" else [96, 160]
            turned = 270 if name != "upside_down" else 180
            assert triplet.extras["video_rotation"] == {"degrees_counterclockwise": turned, "stored_size": stored}
            assert triplet.points3d_valid[0].mean() > 0.9
            # A sidecar saying the camera is fixed skips the test; the others find no motion by testing it.
            decision = "fixed-by-source" if name == "upside_down" else "no-motion-kept"
            assert triplet.ego_motion["method"] == "none" and triplet.ego_motion["decision"] == decision


# --- 2. depth holes -----------------------------------------------------------------------------------------------

# The "no return" values depth files carry, one vertical band each, then valid depth (1.5 m) on the right half.
HOLES = [0.0, np.nan, np.inf, 65.535, 65535.0, -1.0]
BAND = 10


def test_holes_in_a_depth_file_are_never_lifted(tmp_path):
    """Before: a 65.535 m (0xFFFF mm) or 65535 "no return" band passed as valid depth (65 m away; 0, NaN, inf
    and negative values were already dropped). Now no point is lifted from any band, at any step."""
    folder = tmp_path / "videos"
    write_pattern_video(folder / "holes.mp4", frames=FRAMES, width=128, height=96)
    (folder / "holes.json").write_text(json.dumps({"instruction": "slide the square"}))
    depth = np.full((FRAMES, 96, 128), 1.5, np.float32)
    for band, value in enumerate(HOLES):
        depth[:, :, band * BAND : (band + 1) * BAND] = value
    np.savez(folder / "holes.depth.npz", depth=depth)
    hole_end = len(HOLES) * BAND
    grid = query_grid(grid_size=20, width=128, height=96, margin=0.05)
    _, raw_ok = bilinear_depth(depth[0], grid, max_relative_spread=None, max_depth=100.0)
    lifted_before = int((raw_ok & (grid[:, 0] < hole_end)).sum())
    assert lifted_before > 0  # calibration: the sentinel bands pass the plain range check
    manifest, samples = run(folder, tmp_path / "out", "assume_fovy_degrees=60", "filters.min_depth_fraction=0.2")
    assert samples, manifest["skipped_examples"]
    for triplet in samples:
        for step in range(triplet.num_steps):
            valid = triplet.points3d_valid[step]
            assert np.all(triplet.tracks2d[step][valid, 0] >= hole_end - 1)
            np.testing.assert_allclose(triplet.points3d[step][valid, 2], 1.5, atol=1e-4)
        assert triplet.points3d_valid[0].sum() > 0.3 * triplet.points3d_valid.shape[1]
    print(f"grid points lifted from the holes: {lifted_before} before, 0 now")


def test_holes_in_a_lerobot_depth_video_are_never_lifted(tmp_path):
    """Code 0 (a sensor hole) and 4095 (beyond depth_max) bands in a LeRobot depth video. Before: code 0 was
    dequantized to depth_min, 1 cm in front of the lens, and lifted (and voted in the camera-motion fit)."""
    data = write_dataset(
        tmp_path / "holes",
        cameras={"observation.images.top": "libx264"},
        episodes=[[(0, 14)]],
        depth=True,
        depth_holes=True,
    )
    out = tmp_path / "out"
    settings = ["sampling.horizon_seconds=0.5", "sampling.grid_size=10", "sampling.flow_steps=3"]
    settings += ["output.image_size=0", "output.text_embeddings=false", "assume_fovy_degrees=60"]
    assert main(["lerobot", str(data.root), "--out", str(out), "--no-progress", *settings]) == 0
    samples = read_samples(out)
    assert samples, json.loads((out / "manifest.json").read_text())["skipped_examples"]
    width = 128
    for triplet in samples:
        assert triplet.ego_motion["decision"] == "fixed-by-source"  # the top camera of a robot is fixed
        on_hole = (triplet.tracks2d[0][:, 0] < width // 4) | (triplet.tracks2d[0][:, 0] >= width - width // 8 - 1)
        assert on_hole.sum() >= 20  # calibration: grid points do sit on the holes
        for step in range(triplet.num_steps):
            valid = triplet.points3d_valid[step]
            u = triplet.tracks2d[step][valid, 0]
            assert np.all((u >= width // 4 - 1) & (u < width - width // 8))
            assert np.all(triplet.points3d[step][valid, 2] > 0.5)  # the plane is 0.6 m or more away


# --- 3. a fixed camera, an object covering most of the view --------------------------------------------------------


def test_a_fixed_camera_with_a_large_moving_object_keeps_no_camera_motion(tmp_path):
    """A static camera, a box covering about 63 % of the grid moving about 4 cm per flow step, no recorded poses.
    The largest rigid set is the box, so the fit alone (keep_static_ratio=1, the old behaviour) takes the box's
    motion for the camera's and removes it from the whole scene; testing "no motion" first keeps the identity."""
    trajectory = BoxTrajectory(start=(-0.1, 0.05, 0.28), velocity=(0.25, 0.0, 0.0), yaw_rate=10.0)
    scene = MovingBoxScene(tmp_path / "assets", trajectory=trajectory, box_size=(0.36, 0.32, 0.28))
    videos = tmp_path / "videos"
    write_moving_box_video(videos, "big", frames=FRAMES, scene=scene, record_poses=False)
    depth = np.load(videos / "big.depth.npz")["depth"]
    results = {}
    for label, overrides in (("fit only", ["ego_motion.keep_static_ratio=1.0"]), ("no motion tested", [])):
        manifest, samples = run(videos, tmp_path / label.replace(" ", "-"), *overrides)
        assert manifest["skipped"] == {}, manifest["skipped_examples"]
        parts = [flow_errors(scene, t, depth) for t in samples]
        on_box = np.concatenate([p["on_box"] for p in parts])
        visible = np.concatenate([p["truly_visible"] for p in parts])
        box_error = np.concatenate([p["error"] for p in parts])[visible & on_box]
        static_flow = np.concatenate([p["flow"] for p in parts])[visible & ~on_box]
        shares = [
            float(
                np.mean(
                    scene.true_points(t.tracks2d[0].astype(float), reference=int(t.flow_frame_indices[0]), frames=[0])[
                        1
                    ]
                )
            )
            for t in samples
        ]
        results[label] = (samples, box_error, static_flow, shares)
    fitted, kept = results["fit only"][0], results["no motion tested"][0]
    summary = "; ".join(
        f"{label}: box 3D error median {np.median(e) * 1000:.1f} mm, p90 {np.quantile(e, 0.9) * 1000:.1f} mm, "
        f"static 3D flow median {np.median(f) * 1000:.1f} mm, box share {min(s):.0%}-{max(s):.0%}"
        for label, (_, e, f, s) in results.items()
    )
    print(summary)
    assert min(results["no motion tested"][3]) > 0.5, summary  # the object covers more than half of the grid
    assert all(t.ego_motion["method"] == "pnp-ransac" for t in fitted), summary
    assert all(t.ego_motion["method"] == "none" and t.ego_motion["decision"] == "no-motion-kept" for t in kept)
    assert all(0.2 < min(t.ego_motion["no_motion_fraction"]) < 0.6 for t in kept), summary
    _, box_before, static_before, _ = results["fit only"]
    _, box_after, static_after, _ = results["no motion tested"]
    assert np.median(static_before) > 0.02 and np.median(box_before) > 0.02, summary  # calibration: it was wrong
    assert np.median(static_after) < 0.002 and np.median(box_after) < 0.01, summary


def test_a_source_fixed_camera_is_not_estimated_unless_the_switch_says_so():
    """A camera panning 4 px per step (2.5D): a source that says the camera is fixed is trusted in mode auto,
    and the switch ego_motion.trust_source_fixed_cameras=false makes the pipeline estimate it after all."""
    from dynaflip.extract.config import DepthConfig, EgoMotionConfig
    from dynaflip.extract.depth import DepthResult
    from dynaflip.extract.lifting import lift_window

    pixels = query_grid(grid_size=12, width=96, height=96).astype(np.float64)
    tracks = np.stack([pixels + np.array([4.0 * step, 0.0]) for step in range(4)])
    visibility = np.ones(tracks.shape[:2], bool)
    depth = DepthResult(depth=np.ones((4, 96, 96), np.float32), kind="none")
    K = intrinsics_from_fov(fovy_degrees=60, width=96, height=96)
    decisions = {}
    for trust in (True, False):
        lifted = lift_window(
            tracks,
            visibility,
            depth,
            K,
            depth_config=DepthConfig(),
            ego_motion=EgoMotionConfig(trust_source_fixed_cameras=trust),
            camera_fixed=True,
        )
        decisions[trust] = (lifted.motion.method, lifted.record()["decision"])
    assert decisions == {True: ("none", "fixed-by-source"), False: ("homography-ransac", "fitted")}


# --- 4. too few static points for OpenCV ------------------------------------------------------------------------


def test_min_static_points_below_four_is_a_config_error_and_opencv_errors_are_window_failures(tmp_path, capsys):
    """Before: min_static_points=3 let 3 points reach cv2.solvePnPRansac / findHomography, whose cv2.error killed
    the clip's processing. Now the config is refused up front, and an OpenCV error is one window's failure."""
    folder = tmp_path / "videos"
    write_pattern_video(folder / "a.mp4", frames=10)
    (folder / "a.json").write_text(json.dumps({"instruction": "x"}))
    code = main(["folder", str(folder), "--out", str(tmp_path / "out"), "ego_motion.min_static_points=3"])
    error = capsys.readouterr().err
    assert code != 0 and "'ego_motion.min_static_points': expected an integer >= 4" in error
    assert len(error.strip().splitlines()) == 1
    K = intrinsics_from_fov(fovy_degrees=60, width=64, height=64).astype(np.float64)
    pixels = np.array([[10.0, 10.0], [50.0, 12.0], [30.0, 50.0]])
    reference = ReferencePoints(points=np.c_[(pixels - 32) / 55.0, np.ones(3)] * 2.0, valid=np.ones(3, bool))
    tracks = np.stack([pixels, pixels + np.array([3.0, 1.0])])
    visibility = np.ones((2, 3), bool)
    for depth, name in ((reference, "solvePnPRansac"), (None, "findHomography")):
        with pytest.raises(EgoMotionFailed, match=f"step 1: OpenCV {name} failed on 3 points"):
            estimate_camera_motion(
                tracks, visibility, depth, K, threshold_pixels=2.0, min_static_points=3, min_static_fraction=0.3
            )


# --- 5. LeRobot as it is today ----------------------------------------------------------------------------------

TOP, WRIST, DEPTH_TOP = "observation.images.top", "observation.images.wrist", "observation.depth.top"
SUBTASKS = ["reach the block", "grasp the block", "lift the block"]


def persistent(episode, _frame):
    if episode.index != 1:
        return []
    row = {"role": "assistant", "style": "subtask", "camera": None}
    plan = {"role": "assistant", "content": "1. approach 2. push", "style": "plan", "timestamp": 0.0, "camera": None}
    return [
        {**row, "content": "approach the cube", "timestamp": 0.0},
        {**row, "content": "push the cube forward", "timestamp": 0.6},
        plan,
    ]


def events(episode, frame):
    if episode.index == 2 and frame == 8:
        return [{"role": "user", "content": "now close it slowly", "style": "interjection", "camera": None}]
    return []


def subtask_index(episode, frame):
    return (0 if frame < 6 else 1) if episode.index == 0 else None


@pytest.fixture(scope="module")
def today(tmp_path_factory):
    """A v3.0 dataset as LeRobot 0.6 writes one: observation.depth.top with depth_unit "mm", a subtask table and
    subtask_index column (episode 0), subtask rows in language_persistent (episode 1), a user's interjection
    in language_events (episode 2), one row group per episode."""
    return write_dataset(
        tmp_path_factory.mktemp("lerobot06") / "today",
        cameras={TOP: "libx264", WRIST: "libx264"},
        episodes=[[(0, 12)], [(1, 12)], [(2, 12)]],
        depth=True,
        depth_key=DEPTH_TOP,
        depth_unit="mm",
        subtasks=SUBTASKS,
        frame_columns={"subtask_index": subtask_index, "language_persistent": persistent, "language_events": events},
        row_group_per_episode=True,
    )


def test_lerobot_subtasks_language_and_depth_unit_are_read(today):
    data_file = today.root / "data/chunk-000/file-000.parquet"
    assert pq.ParquetFile(data_file).num_row_groups == 3
    clips = [c for c in iter_lerobot_clips(today.root) if not hasattr(c, "reason")]
    found = {
        c.clip_id: (c.instruction, c.extras["lerobot"]["instruction_source"], c.extras["lerobot"]["episode_frames"])
        for c in clips
        if c.extras["lerobot"]["camera"] == TOP
    }
    assert found == {
        "episode_000000-observation_images_top-seg01": ("reach the block", "subtask", [0, 5]),
        "episode_000000-observation_images_top-seg02": ("grasp the block", "subtask", [6, 11]),
        "episode_000001-observation_images_top-seg01": ("approach the cube", "subtask", [0, 5]),
        "episode_000001-observation_images_top-seg02": ("push the cube forward", "subtask", [6, 11]),
        "episode_000002-observation_images_top-seg01": ("open the drawer", "task", [0, 7]),
        "episode_000002-observation_images_top-seg02": ("now close it slowly", "language-event", [8, 11]),
    }
    for clip in clips:
        lerobot = clip.extras["lerobot"]
        if lerobot["instruction_source"] != "task":
            assert lerobot["task"] == today.tasks[lerobot["episode_index"]]
        assert clip.extras["camera_fixed"] is (lerobot["camera"] == TOP)
        if lerobot["camera"] == TOP:
            assert (
                clip.extras["depth_video"]["recorded_unit"] == "mm"
                and clip.extras["depth_video"]["stream"] == DEPTH_TOP
            )


def test_lerobot_moving_cameras_can_be_named(today):
    def fixed(**options):
        return {
            c.extras["lerobot"]["camera"]: c.extras["camera_fixed"]
            for c in iter_lerobot_clips(today.root, **options)
            if not hasattr(c, "reason")
        }

    assert fixed() == {TOP: True, WRIST: False}
    assert fixed(moving_cameras=[TOP]) == {TOP: False, WRIST: True}
    assert fixed(moving_cameras=["all"]) == {TOP: False, WRIST: False}  # a mobile robot
    with pytest.raises(ValueError, match=r"--moving-camera observation\.images\.side: not a camera being extracted"):
        fixed(moving_cameras=["observation.images.side"])


def test_monocular_depth_at_the_image_border_is_unknown():
    """Checked, nothing to change: relative depth marks non-positive or non-finite disparity unknown, and depth
    sampling refuses a point whose 2x2 neighbourhood leaves the image (tracks may run off the border)."""
    disparity = np.ones((1, 10, 12))
    disparity[0, :, 0], disparity[0, 0, :] = 0.0, np.nan
    depth = disparity_to_depth(disparity)[0]
    assert np.all(depth[:, 0] == 0) and np.all(depth[0, :] == 0) and np.all(depth[1:, 1:] == 1)
    # Inside; up to the last pixel's far edge (its value, never extrapolated); beyond it; left of the first
    # centre; next to the unknown first column; clear of it.
    points = [[5.0, 5.0], [10.9, 5.0], [11.2, 5.0], [5.0, 9.5], [12.0, 5.0], [5.0, 10.0], [-0.2, 5.0], [0.5, 5.0]]
    _, valid = bilinear_depth(depth, np.array([*points, [1.5, 5.0]]))
    assert valid.tolist() == [True, True, True, True, False, False, False, False, True]


def test_lerobot_depth_unit_is_checked(tmp_path):
    data = write_dataset(
        tmp_path / "bad_unit", cameras={TOP: "libx264"}, episodes=[[(0, 4)]], depth=True, depth_unit="cm"
    )
    with pytest.raises(
        ValueError,
        match=r"top_depth.info: field 'depth_unit': expected one of \['m', 'mm'\], got 'cm'",
    ):
        list(iter_lerobot_clips(data.root))


def test_lerobot_today_extracts_with_metres_depth(today, tmp_path):
    out = tmp_path / "out"
    settings = ["sampling.horizon_seconds=0.5", "sampling.grid_size=6", "sampling.flow_steps=3", "output.image_size=0"]
    settings += ["output.text_embeddings=false", "assume_fovy_degrees=60", "--camera", TOP]
    assert main(["lerobot", str(today.root), "--out", str(out), "--no-progress", *settings]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    samples = read_samples(out)
    # Episode 2's interjection segment has 4 frames, too few for a window: the one counted skip.
    assert manifest["skipped"] == {"clip-too-short": 1} and len(samples) >= 5, manifest["skipped_examples"]
    assert "4 frames" in manifest["skipped_examples"]["clip-too-short"][0]
    for triplet in samples:
        assert "expected_frames" not in triplet.extras  # the frame check's data stays out of the sample
        assert triplet.extras["lerobot"]["instruction_source"] in ("subtask", "task", "language-event")
        valid = triplet.points3d_valid[0]
        z = triplet.points3d[0][valid, 2]
        assert valid.mean() > 0.8 and np.all((z > 0.55) & (z < 1.9))  # metres (the plane), not millimetres


def test_a_span_one_frame_short_is_a_counted_skip_naming_the_episode(tmp_path):
    """Before: the clip of episode 2, whose video lacks its last frame, gave samples silently (its span
    decoded 11 of the 12 frames the parquet lists)."""
    data = write_dataset(
        tmp_path / "short",
        cameras={TOP: "libx264"},
        episodes=[[(0, 12)], [(1, 12)], [(2, 12)]],
        drop_last_frame=(TOP, 2),
    )
    out = tmp_path / "out"
    settings = ["sampling.horizon_seconds=0.5", "sampling.grid_size=6", "sampling.flow_steps=3"]
    settings += ["output.image_size=0", "output.text_embeddings=false", "assume_fovy_degrees=60"]
    assert (
        main(
            [
                "lerobot",
                str(data.root),
                "--out",
                str(out),
                "--no-progress",
                *settings,
                "depth.backend=none",
                "depth.allow_2_5d=true",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["skipped"] == {"frame-mismatch": 1}, manifest["skipped_examples"]
    (detail,) = manifest["skipped_examples"]["frame-mismatch"]
    assert "episode 2 (camera observation.images.top, frames 0..11): the parquet lists 12 frames" in detail
    assert "its span decodes to 11" in detail
    assert {t.extras["lerobot"]["episode_index"] for t in read_samples(out)} == {0, 1}


# --- 6. AVI with B-frames ---------------------------------------------------------------------------------------


def test_an_avi_with_b_frames_starts_at_zero(tmp_path):
    """Before: the first frame of an MPEG-4 AVI with B-frames was at 0.04 s (its first presentation time is one
    frame after the stream's start); an H.264 AVI's frames came out in the wrong order, silently."""
    path = write_avi(tmp_path / "xvid.avi", frames=30, fps=25)
    index = frame_index(path)
    np.testing.assert_allclose(index.timestamps, np.arange(30) / 25, atol=1e-9)
    decoded = decode_frames(path, start_seconds=0.0, end_seconds=0.2)
    assert [read_number(f) for f in decoded.frames] == [0, 1, 2, 3, 4] and decoded.timestamps[0] == 0.0
    middle = decode_frames(path, start_seconds=0.4, end_seconds=0.6)
    assert [read_number(f) for f in middle.frames] == [10, 11, 12, 13, 14]
    h264 = write_avi(tmp_path / "h264.avi", frames=30, fps=25, codec="libx264")
    with pytest.raises(VideoUnreadable, match="timestamps are not in presentation order"):
        decode_frames(h264)
