"""Depth backends: recorded sidecars (frame picking, nearest resizing, errors naming file and field), a tiny
random-weight Depth Anything model run end to end from a local folder, the 'none' backend, the registry."""

import json

import numpy as np
import pytest
import torch

from dynaflip.extract.clips import ClipSpec
from dynaflip.extract.depth import (
    DEPTH_BACKENDS,
    DepthAnythingDepth,
    DepthUnavailable,
    NoDepth,
    RecordedDepth,
    create_depth_backend,
)
from dynaflip.extract.depth.relative import disparity_to_depth
from dynaflip.extract.depth.resize import resize_nearest


def clip(depth_path=None, clip_id="clip-0"):
    return ClipSpec(
        clip_id=clip_id,
        source="test",
        video_id="video-0",
        video_path="/data/video-0.mp4",
        instruction="push the block",
        embodiment="human",
        depth_path=None if depth_path is None else str(depth_path),
    )


def frames(count, height, width):
    return np.random.default_rng(0).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def write_sidecar(path, *, frames=6, height=6, width=8, compressed=True, **fields):
    """A depth sidecar whose every pixel value is unique (frame * 1000 + pixel index), plus camera poses."""
    depth = (np.arange(frames)[:, None, None] * 1000 + np.arange(height * width).reshape(height, width) + 1).astype(
        np.float32
    )
    poses = np.tile(np.eye(4), (frames, 1, 1))
    poses[:, 0, 3] = np.arange(frames)  # the camera moves along x: frame t sits at x = t
    content = {"depth": depth, "cam_to_world": poses, **fields}
    save = np.savez_compressed if compressed else np.savez
    save(path, **{key: value for key, value in content.items() if value is not None})
    return depth, poses


# --- recorded ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["compressed", "stored-memory-mapped"])
def test_recorded_picks_the_requested_frames_and_poses(tmp_path, compressed):
    path = tmp_path / "video-0.depth.npz"
    depth, poses = write_sidecar(path, compressed=compressed)
    result = RecordedDepth().depth(clip(path), frames(3, 6, 8), np.array([4, 0, 2]))
    assert isinstance(result.depth, np.ndarray) and not isinstance(result.depth, np.memmap)
    np.testing.assert_array_equal(result.depth, depth[[4, 0, 2]])
    assert result.depth.dtype == np.float32 and result.kind == "metric"
    np.testing.assert_array_equal(result.cam_to_world, poses[[4, 0, 2]])
    assert result.cam_to_world.dtype == np.float64


def test_recorded_without_poses_gives_none(tmp_path):
    path = tmp_path / "video-0.depth.npz"
    write_sidecar(path, cam_to_world=None)
    assert RecordedDepth().depth(clip(path), frames(2, 6, 8), np.array([0, 1])).cam_to_world is None


def test_recorded_resize_is_nearest_and_never_blends(tmp_path):
    path = tmp_path / "video-0.depth.npz"
    depth, _ = write_sidecar(path)
    backend = RecordedDepth()
    up = backend.depth(clip(path), frames(2, 12, 16), np.array([1, 3])).depth
    assert up.shape == (2, 12, 16)
    # Exactly twice the size: every source pixel becomes a 2 x 2 block.
    np.testing.assert_array_equal(up, depth[[1, 3]].repeat(2, axis=1).repeat(2, axis=2))
    for size in [(3, 4), (9, 12), (5, 7)]:  # the 6 x 8 maps' aspect, up to rounding to whole pixels
        resized = backend.depth(clip(path), frames(2, *size), np.array([1, 3])).depth
        assert resized.shape == (2, *size)
        for picked, source_frame in zip(resized, depth[[1, 3]], strict=True):
            assert np.isin(picked, source_frame).all()  # only values that exist in the source frame


def test_recorded_refuses_depth_of_another_aspect_ratio(tmp_path):
    """A map is resized to the frames, never stretched. Calibrated both ways: every size output_size gives
    for common camera sizes and short sides passes against native-size depth; other aspects fail."""
    from dynaflip.extract.video import output_size

    backend = RecordedDepth()
    for native in [(640, 480), (1920, 1080), (1280, 720), (720, 1280), (854, 480), (128, 96), (1440, 1080)]:
        path = tmp_path / f"native-{native[0]}x{native[1]}.depth.npz"
        np.savez(path, depth=np.ones((1, native[1] // 8, native[0] // 8), np.float32))  # depth at 1/8 resolution
        for short_side in (0, 96, 112, 224, 256, 333):
            width, height = output_size(*native, short_side=short_side)
            backend.check_clip(clip(path), num_frames=1, width=native[0], height=native[1])
            assert backend.depth(clip(path), frames(1, height, width), np.array([0])).depth.shape == (1, height, width)
    square = tmp_path / "square.depth.npz"
    np.savez(square, depth=np.ones((2, 64, 64), np.float32))
    for width, height in [(128, 96), (96, 128), (299, 224), (70, 64)]:
        with pytest.raises(
            DepthUnavailable, match=rf"square.depth.npz: field 'depth': maps are 64x64 .* {width}x{height}"
        ):
            backend.depth(clip(square), frames(1, height, width), np.array([0]))
        with pytest.raises(DepthUnavailable, match="never stretched"):
            backend.check_clip(clip(square), num_frames=2, width=width, height=height)


def test_recorded_clip_check_before_decoding(tmp_path):
    backend = RecordedDepth()
    with pytest.raises(
        DepthUnavailable, match=r"clip 'clip-0': no depth file .*depth.backend=none depth.allow_2_5d=true"
    ):
        backend.check_clip(clip(None), num_frames=6, width=8, height=6)
    path = tmp_path / "video-0.depth.npz"
    write_sidecar(path, frames=6)
    backend.check_clip(clip(path), num_frames=6, width=80, height=60)
    with pytest.raises(DepthUnavailable, match=r"video-0.depth.npz: depth: has 6 frames, the video .* has 7 decodable"):
        backend.check_clip(clip(path), num_frames=7, width=8, height=6)


def test_nearest_resize_keeps_pixel_centres_aligned():
    maps = np.arange(8, dtype=np.float32).reshape(1, 1, 8)
    # Halving: output pixel i (centre at source 2i + 0.5) takes source pixel 2i + 1 (ties go right, consistently).
    np.testing.assert_array_equal(resize_nearest(maps, height=1, width=4)[0, 0], [1, 3, 5, 7])
    np.testing.assert_array_equal(resize_nearest(maps, height=1, width=16)[0, 0], np.arange(8).repeat(2))


def test_recorded_errors_name_the_file_and_the_field(tmp_path):
    backend = RecordedDepth()
    some = frames(2, 6, 8)
    with pytest.raises(DepthUnavailable, match="clip 'clip-0': no depth file"):
        backend.depth(clip(None), some, np.array([0, 1]))

    missing = tmp_path / "missing.depth.npz"
    with pytest.raises(DepthUnavailable, match=f"{missing}: depth file not found"):
        backend.depth(clip(missing), some, np.array([0, 1]))

    garbage = tmp_path / "garbage.depth.npz"
    garbage.write_bytes(b"this is not a zip archive")
    with pytest.raises(DepthUnavailable, match=f"{garbage}: cannot read as a .npz archive"):
        backend.depth(clip(garbage), some, np.array([0, 1]))

    no_depth = tmp_path / "no_depth.depth.npz"
    np.savez(no_depth, disparity=np.ones((2, 6, 8), np.float32))
    with pytest.raises(DepthUnavailable, match=r"no_depth.depth.npz: field 'depth' missing .*'disparity'"):
        backend.depth(clip(no_depth), some, np.array([0, 1]))

    millimetres = tmp_path / "mm.depth.npz"
    np.savez(millimetres, depth=np.ones((2, 6, 8), np.uint16))
    with pytest.raises(DepthUnavailable, match=r"mm\.depth\.npz: field 'depth': expected float32 metres, got uint16"):
        backend.depth(clip(millimetres), some, np.array([0, 1]))

    flat = tmp_path / "flat.depth.npz"
    np.savez(flat, depth=np.ones((6, 8), np.float32))
    with pytest.raises(DepthUnavailable, match=r"flat.depth.npz: field 'depth': expected shape \(T, H, W\)"):
        backend.depth(clip(flat), some, np.array([0, 1]))

    short = tmp_path / "short.depth.npz"
    write_sidecar(short, frames=3)
    with pytest.raises(DepthUnavailable, match=r"short.depth.npz: depth: has 3 frames, frame index 5 requested"):
        backend.depth(clip(short), some, np.array([2, 5]))

    bad_poses = tmp_path / "poses.depth.npz"
    write_sidecar(bad_poses, cam_to_world=np.tile(np.eye(4), (5, 1, 1)))
    with pytest.raises(DepthUnavailable, match=r"poses.depth.npz: field 'cam_to_world': expected shape \(6, 4, 4\)"):
        backend.depth(clip(bad_poses), some, np.array([0, 1]))


def test_recorded_cache_is_small_and_notices_rewritten_files(tmp_path):
    backend = RecordedDepth(cache_files=2)
    paths = [tmp_path / f"video-{i}.depth.npz" for i in range(3)]
    for path in paths:
        write_sidecar(path)
        backend.depth(clip(path), frames(1, 6, 8), np.array([0]))
    assert len(backend._cache) == 2  # the oldest file was dropped
    # Rewriting a file (new size, new mtime) is seen on the next read.
    np.savez(paths[2], depth=np.full((2, 6, 8), 7.0, np.float32))
    assert (backend.depth(clip(paths[2]), frames(1, 6, 8), np.array([1])).depth == 7.0).all()


# --- depth anything ---------------------------------------------------------------------------------------------


def save_tiny_depth_anything(folder, *, estimation="relative"):
    """A random-weight Depth Anything (2-layer Dinov2 backbone) and its image processor, saved like a hub copy."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    torch.manual_seed(0)
    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=56,
        patch_size=14,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type=estimation,
        max_depth=20 if estimation == "metric" else 1,
    )
    model = DepthAnythingForDepthEstimation(config)
    with torch.no_grad():
        # Random weights put most of a relative model's ReLU output at exactly 0; an offset makes the fake
        # disparity mostly positive, like a trained model's.
        model.head.conv3.weight.mul_(0.1)
        model.head.conv3.bias.fill_(1.0)
    model.save_pretrained(folder)
    DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14).save_pretrained(
        folder
    )
    return folder


@pytest.fixture(scope="module")
def relative_model(tmp_path_factory):
    return save_tiny_depth_anything(tmp_path_factory.mktemp("da-relative"))


def test_depth_anything_relative_end_to_end_in_batches(relative_model):
    video = frames(5, 40, 52)
    batched = DepthAnythingDepth(model_path=str(relative_model), batch_size=2)
    result = batched.depth(clip(), video, np.arange(5))
    assert result.kind == "relative" and batched.kind == "relative" and result.cam_to_world is None
    assert result.depth.shape == (5, 40, 52) and result.depth.dtype == np.float32
    assert np.isfinite(result.depth).all() and (result.depth >= 0).all()
    assert (result.depth > 0).mean() > 0.9
    # Each frame's median depth is 1 by construction (the documented normalisation).
    for frame in result.depth:
        assert np.median(frame[frame > 0]) == pytest.approx(1.0, rel=1e-3)
    whole = DepthAnythingDepth(model_path=str(relative_model), batch_size=8).depth(clip(), video, np.arange(5))
    np.testing.assert_allclose(result.depth, whole.depth, rtol=1e-4, atol=1e-5)  # batching changes nothing


def test_depth_anything_metric_model(tmp_path):
    folder = save_tiny_depth_anything(tmp_path / "da-metric", estimation="metric")
    backend = DepthAnythingDepth(model_path=str(folder), output="metric", batch_size=3)
    result = backend.depth(clip(), frames(4, 30, 44), np.arange(4))
    assert result.kind == "metric" and result.depth.shape == (4, 30, 44)
    assert (result.depth > 0).all() and (result.depth <= 20).all()  # sigmoid x max_depth
    with pytest.raises(ValueError, match="depth_estimation_type is 'metric' but output 'relative-disparity'"):
        DepthAnythingDepth(model_path=str(folder))


def test_depth_anything_errors_for_missing_or_wrong_folders(tmp_path, relative_model):
    with pytest.raises(FileNotFoundError, match=r"model_path '.*nowhere' does not exist"):
        DepthAnythingDepth(model_path=str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"is not a model folder: config\.json missing"):
        DepthAnythingDepth(model_path=str(empty))
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type: expected 'depth_anything', got 'bert'"):
        DepthAnythingDepth(model_path=str(other))
    with pytest.raises(ValueError, match="output: expected one of"):
        DepthAnythingDepth(model_path=str(relative_model), output="disparity")


def test_disparity_to_depth_rule():
    disparity = np.array([[[2.0, 1.0, 0.5, 0.0], [4.0, 1.0, 0.01, np.nan]]])  # median of positive values: 1.0
    depth = disparity_to_depth(disparity, min_relative_disparity=0.02)
    np.testing.assert_allclose(depth, [[[0.5, 1.0, 2.0, 0.0], [0.25, 1.0, 0.0, 0.0]]])
    assert (disparity_to_depth(np.zeros((1, 2, 2))) == 0).all()  # nothing positive: all unknown


# --- none ---------------------------------------------------------------------------------------------------------


def test_none_refuses_unless_2_5d_is_allowed():
    with pytest.raises(DepthUnavailable, match="allow_2_5d"):
        NoDepth(allow_2_5d=False).depth(clip(), frames(2, 4, 5), np.arange(2))
    result = NoDepth(allow_2_5d=True).depth(clip(), frames(2, 4, 5), np.arange(2))
    assert result.kind == "none" and result.cam_to_world is None
    assert result.depth.shape == (2, 4, 5) and result.depth.dtype == np.float32 and (result.depth == 1).all()


# --- registry -----------------------------------------------------------------------------------------------------


def test_registry_builds_by_name_and_explains_mistakes(relative_model):
    assert set(DEPTH_BACKENDS) == {"recorded", "depth-anything", "none"}
    assert isinstance(create_depth_backend("recorded"), RecordedDepth)
    assert create_depth_backend("none", allow_2_5d=True).allow_2_5d
    assert create_depth_backend("depth-anything", model_path=str(relative_model)).kind == "relative"
    with pytest.raises(ValueError, match="unknown name 'midas'; known backends: depth-anything, none, recorded"):
        create_depth_backend("midas")
    with pytest.raises(ValueError, match=r"unknown option\(s\) path; accepted: model_path"):
        create_depth_backend("depth-anything", path="/models/da")
    with pytest.raises(ValueError, match=r"missing option\(s\) model_path"):
        create_depth_backend("depth-anything")
