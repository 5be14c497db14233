"""Camera (ego-)motion removal and relative-depth alignment.

Closed-form scenes first (float64 references: a known camera motion, the Kabsch fit as a second algorithm),
then the pipeline on rendered MuJoCo scenes: a handheld-like moving camera with a moving box (static points must
come out near zero 3D flow; estimated motion against the recorded ground-truth poses), and a box approaching a
static camera until it fills half the frame (a static pixel's relative depth must not drift).
"""

import json
import shutil

import numpy as np
import pytest

from dynaflip.extract.cli import main
from dynaflip.extract.depth.relative import align_to_reference, disparity_to_depth
from dynaflip.extract.egomotion import (
    HOMOGRAPHY,
    PNP,
    EgoMotionFailed,
    ReferencePoints,
    estimate_camera_motion,
    remove_homographies,
)
from dynaflip.geometry import (
    fit_rigid_transform,
    intrinsics_from_fov,
    invert_transform,
    project,
    query_grid,
    rotation_degrees,
    transform_points,
    unproject,
)
from tests.helpers.moving_box import (
    BoxTrajectory,
    CameraTrajectory,
    MovingBoxScene,
    flow_errors,
    write_moving_box_video,
)
from tests.test_extract_pipeline import GT_SETTINGS, read_samples

SIZE = 224
K = intrinsics_from_fov(fovy_degrees=60.0, width=SIZE, height=SIZE).astype(np.float64)


def rotation(axis, degrees):
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    angle = np.radians(degrees)
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew


def pose(rotation_matrix, translation):
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rotation_matrix, translation
    return out


def handheld_scene(*, steps=5, moving_share=0.2, noise_pixels=0.0, seed=0):
    """A grid of reference pixels at depths 1.5-3 m; the camera turns and shifts a little more at each step;
    the first ``moving_share`` of the points also move 10 cm per step (a moving object). Returns the reference
    points, the true step -> reference transforms, the tracks and which points move."""
    rng = np.random.default_rng(seed)
    pixels = query_grid(grid_size=20, width=SIZE, height=SIZE).astype(np.float64)
    points = unproject(pixels, rng.uniform(1.5, 3.0, len(pixels)), K)
    moving = np.arange(len(pixels)) < moving_share * len(pixels)
    truth = [np.eye(4)]
    tracks = [pixels]
    for step in range(1, steps):
        to_reference = pose(rotation((0.3, 1.0, 0.2), 1.5 * step), (0.02 * step, -0.01 * step, 0.03 * step))
        world = points + moving[:, None] * np.array([0.1, 0.05, 0.0]) * step
        in_step = transform_points(invert_transform(to_reference), world)
        truth.append(to_reference)
        tracks.append(project(in_step, K) + rng.normal(0, noise_pixels, pixels.shape))
    return ReferencePoints(points=points, valid=np.ones(len(pixels), bool)), np.stack(truth), np.stack(tracks), moving


ESTIMATE = {"threshold_pixels": 2.0, "min_static_points": 12, "min_static_fraction": 0.3}


def test_fit_rigid_transform_is_exact_and_never_a_reflection():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(30, 3))
    truth = pose(rotation((1.0, -2.0, 0.5), 37.0), (0.3, -1.2, 2.0))
    np.testing.assert_allclose(fit_rigid_transform(source, transform_points(truth, source)), truth, atol=1e-12)
    mirrored = source * np.array([1.0, 1.0, -1.0])  # the best orthogonal fit would be a reflection
    fitted = fit_rigid_transform(source, mirrored)
    assert np.linalg.det(fitted[:3, :3]) == pytest.approx(1.0)
    np.testing.assert_allclose(invert_transform(truth) @ truth, np.eye(4), atol=1e-12)
    assert rotation_degrees(truth) == pytest.approx(37.0)
    with pytest.raises(ValueError, match="N >= 3"):
        fit_rigid_transform(source[:2], source[:2])


def test_pnp_recovers_the_camera_motion_and_separates_the_moving_object():
    reference, truth, tracks, moving = handheld_scene()
    motion = estimate_camera_motion(tracks, np.ones(tracks.shape[:2], bool), reference, K, **ESTIMATE)
    assert motion.method == PNP
    np.testing.assert_allclose(motion.to_reference, truth, atol=1e-6)
    assert (motion.static[1:] == ~moving).all()  # exactly the moving object disagrees
    # A second algorithm: Kabsch on the static points' true 3D positions in each step's camera.
    for step in range(1, len(truth)):
        in_step = transform_points(invert_transform(truth[step]), reference.points[~moving])
        np.testing.assert_allclose(
            fit_rigid_transform(in_step, reference.points[~moving]), motion.to_reference[step], atol=1e-6
        )
    record = motion.record()
    assert record["method"] == "pnp-ransac" and len(record["rotation_degrees"]) == len(truth) - 1
    assert record["static_fraction"] == pytest.approx([0.8] * 4)


def test_pnp_with_tracking_noise():
    reference, truth, tracks, _ = handheld_scene(noise_pixels=0.3, seed=3)
    motion = estimate_camera_motion(tracks, np.ones(tracks.shape[:2], bool), reference, K, **ESTIMATE)
    for step in range(1, len(truth)):
        error = invert_transform(truth[step]) @ motion.to_reference[step]
        assert rotation_degrees(error) < 0.1 and np.linalg.norm(error[:3, 3]) < 0.01


def test_homography_removes_a_rotating_camera_from_2_5d_flow():
    pixels = query_grid(grid_size=20, width=SIZE, height=SIZE).astype(np.float64)
    rays = unproject(pixels, np.ones(len(pixels)), K)
    moving = np.arange(len(pixels)) < 60
    tracks, homographies = [pixels], [np.eye(3)]
    for step in range(1, 4):
        turn = rotation((0.2, 1.0, -0.1), 2.0 * step)  # a pure rotation: the homography K R^T K^-1 is exact
        seen = project(rays @ turn, K) + moving[:, None] * np.array([6.0, 3.0]) * step
        tracks.append(seen)
        homographies.append(K @ turn.T @ np.linalg.inv(K))
    tracks = np.stack(tracks)
    visibility = np.ones(tracks.shape[:2], bool)
    motion = estimate_camera_motion(tracks, visibility, None, K, **ESTIMATE)
    assert motion.method == HOMOGRAPHY and (motion.static[1:] == ~moving).all()
    for step in range(1, 4):
        estimated = motion.homographies[step] / motion.homographies[step][2, 2]
        np.testing.assert_allclose(estimated, homographies[step] / homographies[step][2, 2], atol=1e-5)
    flat = np.stack([unproject(t, np.ones(len(t)), K) for t in tracks])  # what lifting gives for depth "none"
    removed = remove_homographies(flat, visibility, tracks, motion.homographies, K)
    static_back = np.stack([project(removed[k][~moving], K) for k in range(4)])
    np.testing.assert_allclose(static_back, np.broadcast_to(pixels[~moving], static_back.shape), atol=1e-6)
    moved = np.linalg.norm(project(removed[3][moving], K) - pixels[moving], axis=-1)
    np.testing.assert_allclose(moved, np.hypot(18.0, 9.0), rtol=0.2)  # the object's own motion stays


def test_no_consensus_and_too_few_points_are_one_line_failures():
    reference, _, tracks, _ = handheld_scene()
    rng = np.random.default_rng(4)
    scrambled = tracks.copy()
    scrambled[2] = rng.uniform(0, SIZE - 1, scrambled[2].shape)  # step 2: every point somewhere else
    with pytest.raises(EgoMotionFailed, match=r"step 2: only \d+ of 400 tracked points agree on one camera motion"):
        estimate_camera_motion(scrambled, np.ones(tracks.shape[:2], bool), reference, K, **ESTIMATE)
    visibility = np.ones(tracks.shape[:2], bool)
    visibility[3, 5:] = False
    with pytest.raises(EgoMotionFailed, match="step 3: 5 tracked points with reference depth, too few"):
        estimate_camera_motion(tracks, visibility, reference, K, **ESTIMATE)


def test_relative_depth_is_put_on_the_reference_scale():
    rng = np.random.default_rng(5)
    depth = rng.uniform(1.0, 4.0, (1, 32, 40)).repeat(3, axis=0)
    scales = np.array([1.0, 0.7, 1.9])
    observed = (depth / scales[:, None, None]).astype(np.float32)  # a monocular model's per-frame scale
    pixels = query_grid(grid_size=6, width=40, height=32).astype(np.float64)
    tracks = np.repeat(pixels[None], 3, axis=0)
    static = np.ones((3, len(pixels)), bool)
    static[:, :5] = False  # points that are not background are not used
    expected = np.repeat(np.array([depth[0][round(v), round(u)] for u, v in pixels])[None], 3, axis=0)
    aligned, found = align_to_reference(observed, tracks, static, expected, max_relative_spread=None)
    np.testing.assert_allclose(found, scales, rtol=0.05)
    few = static.copy()
    few[2, 10:] = False
    aligned, found = align_to_reference(observed, tracks, few, expected, max_relative_spread=None)
    assert np.isnan(found[2]) and (aligned[2] == 0).all()  # cannot be aligned: unknown, not a wrong scale


def test_the_sample_records_how_camera_motion_was_removed_and_old_samples_stay_valid():
    import dataclasses

    from dynaflip.schema import SchemaError, decode_sample, encode_sample
    from tests.helpers.triplets import make_triplet

    old = make_triplet()  # as written before the field existed: no ego_motion
    members = encode_sample(old)
    assert "ego_motion" not in json.loads(members["meta.json"])
    assert decode_sample(members).ego_motion is None
    record = {"method": "pnp-ransac", "static_fraction": [0.9, 0.8], "rotation_degrees": [1.0, 2.0]}
    new = dataclasses.replace(old, ego_motion=record)
    assert decode_sample(encode_sample(new)).ego_motion == record
    with pytest.raises(SchemaError, match="field 'ego_motion': expected null or a dict with 'method' in"):
        encode_sample(dataclasses.replace(old, ego_motion={"method": "guessed"}))


# --- the pipeline on a rendered moving camera ---------------------------------------------------------------------

HANDHELD = CameraTrajectory(pan_rate=8.0, tilt_rate=-4.0, shake_degrees=1.5, shake_metres=0.02, drift=(0.05, 0.03, 0.0))


@pytest.fixture(scope="module")
def handheld_videos(tmp_path_factory):
    """Two 40-frame videos of the moving box filmed by a handheld-like camera (pan, tilt, shake: about 10
    degrees and 8 cm over a 1 s window): ``posed`` has the true camera poses in its depth files, ``unposed``
    the same files without them."""
    root = tmp_path_factory.mktemp("handheld")
    posed, unposed = root / "posed", root / "unposed"
    scenes = {}
    trajectories = [BoxTrajectory(), BoxTrajectory(start=(0.1, 0.0, 0.12), velocity=(-0.12, 0.05, 0.0), yaw_rate=-20.0)]
    for index, trajectory in enumerate(trajectories):
        name = f"handheld{index}"
        scene = MovingBoxScene(root / "assets", trajectory=trajectory, camera=HANDHELD)
        scenes[name] = write_moving_box_video(posed, name, frames=40, scene=scene)
    unposed.mkdir()
    for path in posed.glob("handheld*"):
        if path.name.endswith(".depth.npz"):
            np.savez(unposed / path.name, depth=np.load(path)["depth"])
        else:
            shutil.copy(path, unposed / path.name)
    return posed, unposed, scenes


def extract(videos, out, *overrides):
    assert main(["folder", str(videos), "--out", str(out), "--no-progress", *GT_SETTINGS, *overrides]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["skipped"] == {}, manifest["skipped_examples"]
    return read_samples(out)


def figures(samples, videos, scenes):
    parts = [flow_errors(scenes[t.video_id], t, np.load(videos / f"{t.video_id}.depth.npz")["depth"]) for t in samples]
    visible = np.concatenate([p["truly_visible"] for p in parts])
    on_box = np.concatenate([p["on_box"] for p in parts])
    static_flow = np.concatenate([p["flow"] for p in parts])[visible & ~on_box]
    box_error = np.concatenate([p["error"] for p in parts])[visible & on_box]
    return static_flow, box_error


def millimetres(values):
    return f"median {np.median(values) * 1000:.1f} mm, p90 {np.quantile(values, 0.9) * 1000:.1f} mm"


def test_camera_motion_is_removed_without_poses(handheld_videos, tmp_path):
    """Measured here (default tracker, recorded metric depth, no poses; 224 px, about 1.2 m away): static
    points' 3D flow median 1.7 mm, p90 4.1 mm after removal (66 / 189 mm with removal disabled); the box's 3D
    error median 1.9 mm, p90 13 mm (75 / 124 mm without removal)."""
    posed, unposed, scenes = handheld_videos
    removed = extract(unposed, tmp_path / "estimated")
    kept = extract(unposed, tmp_path / "kept", "ego_motion.mode=disabled")
    static_flow, box_error = figures(removed, unposed, scenes)
    static_before, box_before = figures(kept, unposed, scenes)
    summary = (
        f"static points' 3D flow: {millimetres(static_flow)} (removal disabled: {millimetres(static_before)}); "
        f"box 3D error: {millimetres(box_error)} (removal disabled: {millimetres(box_before)})"
    )
    print(summary)
    assert all(t.ego_motion["method"] == "pnp-ransac" for t in removed), summary
    assert all(t.ego_motion["method"] == "none" for t in kept), summary
    assert len(static_flow) > 2000 and len(box_error) > 300, summary
    assert np.median(static_before) > 0.03, summary  # calibration: the camera really moves that much
    assert np.median(static_flow) < 0.003 and np.quantile(static_flow, 0.9) < 0.008, summary
    assert np.median(box_error) < 0.006 and np.quantile(box_error, 0.9) < 0.04, summary

    # The estimate against the recorded ground-truth poses, sample by sample.
    recorded = {t.key: t.ego_motion for t in extract(posed, tmp_path / "recorded")}
    for triplet in removed:
        truth = recorded[triplet.key]
        assert truth["method"] == "recorded-poses"
        np.testing.assert_allclose(triplet.ego_motion["rotation_degrees"], truth["rotation_degrees"], atol=0.3)
        np.testing.assert_allclose(triplet.ego_motion["translation"], truth["translation"], atol=0.01)


def test_camera_motion_is_removed_from_2_5d_flow(handheld_videos, tmp_path):
    """Without depth, a homography per step: the floor (a plane) comes back to its reference pixel. Measured:
    median 0.28 px, p90 0.80 px (14.5 / 28.8 px with removal disabled)."""
    _, unposed, scenes = handheld_videos
    flat = ["depth.backend=none", "depth.allow_2_5d=true"]
    residuals = {}
    for mode in ("auto", "disabled"):
        samples = extract(unposed, tmp_path / mode, *flat, f"ego_motion.mode={mode}")
        values = []
        for triplet in samples:
            reference = int(triplet.flow_frame_indices[0])
            _, on_box, hit = scenes[triplet.video_id].true_points(
                triplet.tracks2d[0].astype(float), reference=reference, frames=[reference]
            )
            for step in range(1, triplet.num_steps):
                valid = triplet.points3d_valid[step] & hit & ~on_box
                back = project(triplet.points3d[step][valid], triplet.intrinsics)
                values.append(np.linalg.norm(back - triplet.tracks2d[0][valid], axis=-1))
        residuals[mode] = np.concatenate(values)
        assert {t.ego_motion["method"] for t in samples} == {"homography-ransac" if mode == "auto" else "none"}
    summary = {mode: f"median {np.median(r):.2f} px, p90 {np.quantile(r, 0.9):.2f} px" for mode, r in residuals.items()}
    print(f"static floor points, pixels from their reference after removal: {summary}")
    assert np.median(residuals["disabled"]) > 8, summary
    assert np.median(residuals["auto"]) < 0.5 and np.quantile(residuals["auto"], 0.9) < 1.5, summary


# --- relative depth: one scale for the window, set by the reference frame ------------------------------------------


class MonocularStandIn:
    """Relative depth as a monocular model gives it, standing in for Depth Anything weights (none can be
    downloaded here): the rendered scene's true disparity times an arbitrary per-frame scale, turned into depth
    by the pipeline's own rule (each frame's median disparity set to 1)."""

    name, version, kind = "monocular-stand-in", "1", "relative"

    def __init__(self, folder):
        self.folder = folder

    def depth(self, clip, frames, frame_indices):
        from dynaflip.extract.depth import DepthResult

        true = np.load(self.folder / f"{clip.video_id}.depth.npz")["depth"][np.asarray(frame_indices)]
        scale = 1.0 + 0.5 * np.sin(np.asarray(frame_indices, dtype=np.float64))[:, None, None]
        disparity = np.where(true > 0, scale / np.maximum(true, 1e-6), 0.0)
        return DepthResult(depth=disparity_to_depth(disparity), kind="relative")


def test_a_static_pixels_relative_depth_holds_while_an_object_fills_the_frame(tmp_path):
    """A box approaches the static camera, from 19 % to 56 % of the frame over the window. Each frame's own
    median scale makes a static floor point's depth grow by 43 % (the issue's fake motion in z); aligned to I_t
    on the static background it stays within 0.1 %."""
    from dynaflip.config import load_config
    from dynaflip.extract.cli import DEFAULT_CONFIG
    from dynaflip.extract.clip_processor import ClipProcessor
    from dynaflip.extract.config import ExtractConfig
    from dynaflip.extract.runner import collect_clips
    from dynaflip.extract.sources import iter_folder_clips
    from dynaflip.extract.tracking import create_tracker
    from dynaflip.geometry import bilinear_depth

    approach = BoxTrajectory(start=(0.05, 0.25, 0.12), velocity=(-0.02, -0.5, 0.22), yaw_rate=15.0)
    write_moving_box_video(
        tmp_path, "approach", frames=32, scene=MovingBoxScene(tmp_path / "assets", trajectory=approach)
    )
    overrides = [*GT_SETTINGS, "sampling.horizon_seconds=1.5", "sampling.references_per_clip=1"]
    config = load_config(ExtractConfig, files=[DEFAULT_CONFIG], overrides=overrides)
    clips, _ = collect_clips(iter_folder_clips(tmp_path, default_embodiment="sim"))
    backend = MonocularStandIn(tmp_path)
    processor = ClipProcessor(config, tracker=create_tracker(config.tracking.backend), depth=backend)
    result = processor.process(clips[0])
    assert not result.skips and len(result.triplets) >= 1
    for triplet in result.triplets:
        assert triplet.depth_kind == "relative"
        # The camera is fixed: "no camera motion" explains the floor and is kept (no fit, nothing removed).
        assert triplet.ego_motion["method"] == "none" and triplet.ego_motion["decision"] == "no-motion-kept"
        # Static points: the camera does not move, so they stay put; valid at every step.
        still = np.linalg.norm(triplet.tracks2d[-1] - triplet.tracks2d[0], axis=-1) < 0.5
        use = still & triplet.points3d_valid.all(axis=0)
        assert use.sum() > 100
        stored = triplet.points3d[:, use, 2] / triplet.points3d[0, use, 2]
        per_frame = backend.depth(clips[0], None, triplet.flow_frame_indices).depth
        before = np.stack([bilinear_depth(per_frame[k], triplet.tracks2d[k])[0][use] for k in range(triplet.num_steps)])
        drift_before = np.median(before / before[0], axis=1)
        aligned = np.round(np.median(stored, axis=1), 4)
        summary = f"static depth / depth at I_t: per-frame scale {np.round(drift_before, 3)}; aligned {aligned}"
        print(summary)
        assert drift_before[-1] > 1.2, summary  # calibration: the object does shift each frame's scale
        assert np.abs(stored - 1).max() < 0.01, summary
