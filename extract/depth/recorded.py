"""Depth recorded with the video: a ``NAME.depth.npz`` sidecar named by the clip's ``depth_path``.

The file holds ``depth`` float32 (T, H, W) metres (0, NaN, inf or 65.535 where unknown: the "no return" values
depth cameras write, all read as unknown and never lifted), one map per video frame, and
optionally ``cam_to_world`` (T, 4, 4) OpenCV camera poses. Map ``i`` belongs to the video's i-th decodable
frame. Depth of any resolution is resized to the frames' resolution with nearest-neighbour sampling
(interpolating across a depth edge would invent points floating between the foreground and the
background), but not across aspect ratios: a map of another shape than the video would be stretched.
"""

from __future__ import annotations

import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..clips import ClipSpec
from .base import DepthResult, DepthUnavailable
from .depth_video import depth_from_video, has_depth_video
from .resize import resize_nearest


@dataclass(frozen=True)
class Recording:
    depth: np.ndarray  # (T, H, W) float32 metres
    cam_to_world: np.ndarray | None  # (T, 4, 4) float64


# 0xFFFF millimetres, as metres or left in millimetres: the "no return" code of 16-bit depth cameras.
NO_RETURN_METRES, NO_RETURN_MILLIMETRES = 65.535, 65535.0

# How to extract videos without recorded depth; said at the start of a run and in every skip.
NO_DEPTH_FIX = (
    "for 2.5D flow without depth use depth.backend=none depth.allow_2_5d=true, or a monocular model: "
    "depth.backend=depth-anything depth.options.model_path=PATH"
)


class RecordedDepth:
    """Metric depth (and camera poses, when recorded) read from the clip's depth sidecar.

    The last ``cache_files`` files read are kept in memory, so the several windows of one clip read the
    file once; older files are dropped rather than kept for the whole run.
    """

    name = "recorded"
    version = "1"
    kind = "metric"

    def __init__(self, *, cache_files: int = 2) -> None:
        if cache_files < 0:
            raise ValueError(f"cache_files: expected >= 0, got {cache_files}")
        self.cache_files = int(cache_files)
        self._cache: OrderedDict[tuple[str, int, int], Recording] = OrderedDict()

    def check_clip(self, clip: ClipSpec, *, num_frames: int, width: int, height: int) -> None:
        """Before any decoding: the clip has a depth file, readable, with a map for each of the video's
        ``num_frames`` decodable frames and the aspect ratio of its ``width`` x ``height`` frames."""
        if has_depth_video(clip):
            return  # a depth stream (LeRobot), matched to the frames by time when read
        if clip.depth_path is None:
            raise DepthUnavailable(_no_depth_path(clip))
        path = str(Path(clip.depth_path).expanduser())
        recording = self._load(path)
        if len(recording.depth) < num_frames:
            raise DepthUnavailable(
                f"{path}: depth: has {len(recording.depth)} frames, the video {clip.video_path} has {num_frames} "
                "decodable frames (expected one depth map per frame)"
            )
        _check_aspect(path, recording.depth.shape[1:], (height, width))

    def depth(self, clip: ClipSpec, frames: np.ndarray, frame_indices: np.ndarray) -> DepthResult:
        """Depth maps of video frames ``frame_indices`` (T,), at the resolution of ``frames`` (T, H, W, 3)."""
        frames = np.asarray(frames)
        indices = np.asarray(frame_indices)
        if frames.ndim != 4 or indices.shape != (len(frames),) or not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(
                f"expected frames (T, H, W, 3) and integer frame_indices (T,), got {frames.shape} and "
                f"{indices.shape} {indices.dtype}"
            )
        if has_depth_video(clip):
            return depth_from_video(clip, frames, indices)
        if clip.depth_path is None:
            raise DepthUnavailable(_no_depth_path(clip))
        if len(indices) and indices.min() < 0:
            raise ValueError(f"frame_indices: expected video frame numbers >= 0, got {int(indices.min())}")
        path = str(Path(clip.depth_path).expanduser())
        recording = self._load(path)
        available = len(recording.depth)
        if len(indices) and indices.max() >= available:
            raise DepthUnavailable(
                f"{path}: depth: has {available} frames, frame index {int(indices.max())} requested "
                f"(expected one depth map per video frame, frames 0..{available - 1})"
            )
        height, width = frames.shape[1:3]
        _check_aspect(path, recording.depth.shape[1:], (height, width))
        # Fancy indexing copies, so the caller never holds a view into the cached arrays.
        depth = resize_nearest(no_return_to_unknown(recording.depth[indices]), height=height, width=width)
        poses = None if recording.cam_to_world is None else recording.cam_to_world[indices]
        return DepthResult(depth=depth, kind=self.kind, cam_to_world=poses)

    def _load(self, path: str) -> Recording:
        try:
            stat = Path(path).stat()
        except OSError as error:
            raise DepthUnavailable(f"{path}: depth file not found or not accessible ({error.strerror})") from None
        # The modification time and size are part of the key, so a rewritten file is read again.
        key = (path, stat.st_mtime_ns, stat.st_size)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        recording = read_recording(path)
        if self.cache_files:
            self._cache[key] = recording
            while len(self._cache) > self.cache_files:
                self._cache.popitem(last=False)
        return recording


def no_return_to_unknown(depth: np.ndarray) -> np.ndarray:
    """``depth`` with every "no return" value set to 0 (unknown), in place: NaN, +-inf, 0 and negative values, and
    the saturated 16-bit code in metres or millimetres (65.535 / 65535: RealSense, Kinect and ZED exports write a
    hole as 0xFFFF), which would otherwise pass as a point 65 m away."""
    saturated = (np.abs(depth - NO_RETURN_METRES) < 5e-4) | (depth == NO_RETURN_MILLIMETRES)
    bad = ~np.isfinite(depth) | (depth <= 0) | saturated
    depth[bad] = 0.0
    return depth


def _no_depth_path(clip: ClipSpec) -> str:
    return (
        f"clip '{clip.clip_id}': no depth file (expected {Path(clip.video_path).stem}.depth.npz next to the video); "
        f"{NO_DEPTH_FIX}"
    )


def _check_aspect(path: str, depth_shape: tuple[int, ...], frame_shape: tuple[int, int]) -> None:
    """Depth maps must have the video's aspect ratio (up to one pixel of rounding in either size)."""
    (depth_height, depth_width), (frame_height, frame_width) = depth_shape, frame_shape
    # The depth width the frames' aspect implies, give or take the frames' rounding to whole pixels (half a
    # pixel in each size, scaled to the depth's resolution), one depth pixel and 1 %.
    implied = depth_height * frame_width / frame_height
    slack = 0.5 * (depth_height / frame_height) * (1 + frame_width / frame_height) + 1.0 + 0.01 * depth_width
    if abs(depth_width - implied) > slack:
        raise DepthUnavailable(
            f"{path}: field 'depth': maps are {depth_width}x{depth_height} (aspect {depth_width / depth_height:.3f}) "
            f"but the video frames are {frame_width}x{frame_height} (aspect {frame_width / frame_height:.3f}); "
            "expected depth at the video's aspect ratio (crop or pad it to match; it is never stretched)"
        )


def clips_without_depth(clips: list[ClipSpec]) -> list[ClipSpec]:
    """The clips the recorded backend will have to skip because their source gave no depth file."""
    return [clip for clip in clips if clip.depth_path is None and not has_depth_video(clip)]


def read_recording(path: str) -> Recording:
    """Read and check a depth sidecar; every problem is a :class:`DepthUnavailable` naming file and field."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            fields = list(archive.files)
            if "depth" not in fields:
                raise DepthUnavailable(
                    f"{path}: field 'depth' missing (expected float32 (T, H, W) metres; fields found: {fields})"
                )
            depth = _memory_map_stored(path, "depth.npy")
            if depth is None:
                depth = archive["depth"]
            cam_to_world = archive["cam_to_world"] if "cam_to_world" in fields else None
    except DepthUnavailable:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DepthUnavailable(f"{path}: cannot read as a .npz archive ({type(error).__name__}: {error})") from None
    if not np.issubdtype(depth.dtype, np.floating):
        # Integer depth is usually millimetres: refusing beats silently storing a 1000x scale error.
        raise DepthUnavailable(
            f"{path}: field 'depth': expected float32 metres, got {depth.dtype} (convert to metres as float32)"
        )
    if depth.ndim != 3 or min(depth.shape) == 0:
        raise DepthUnavailable(f"{path}: field 'depth': expected shape (T, H, W) with T, H, W >= 1, got {depth.shape}")
    if cam_to_world is not None:
        if cam_to_world.shape != (len(depth), 4, 4) or not np.issubdtype(cam_to_world.dtype, np.number):
            raise DepthUnavailable(
                f"{path}: field 'cam_to_world': expected shape ({len(depth)}, 4, 4) (one pose per depth frame), "
                f"got {cam_to_world.shape} {cam_to_world.dtype}"
            )
        cam_to_world = cam_to_world.astype(np.float64)
    return Recording(depth=depth.astype(np.float32, copy=False), cam_to_world=cam_to_world)


def _memory_map_stored(path: str, member: str) -> np.ndarray | None:
    """Map an uncompressed ``.npz`` member without reading it: a window needs ~7 of a clip's hundreds of depth
    maps, and reading them all was a large share of extraction time. None when the member is compressed."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
        if info.compress_type != zipfile.ZIP_STORED:
            return None
    with open(path, "rb") as handle:
        # The local file header (30 bytes + name + extra field) precedes the member's bytes.
        handle.seek(info.header_offset)
        local = handle.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        name_length, extra_length = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
        handle.seek(info.header_offset + 30 + name_length + extra_length)
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(handle)
        if fortran_order or dtype.hasobject:
            return None
        offset = handle.tell()
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
