"""Depth recorded as a video stream (LeRobot's depth features), read as metric depth.

LeRobot stores a depth camera as a 12-bit video (HEVC Main 12, ``gray12le``, lossless by default): each pixel
is a code q in 0..4095 from quantizing depth d in metres between ``depth_min`` and ``depth_max``, in log space
by default: ``q = round(4095 * (log(d + shift) - log(depth_min + shift)) / (log(depth_max + shift) -
log(depth_min + shift)))``, linearly without log. Decoding inverts it and clips to [depth_min, depth_max]
(LeRobot's ``dequantize_depth``); the result is metres whatever unit the recording used, since the mapping
only depends on ratios.

A clip names its depth video in ``ClipSpec.extras["depth_video"]`` (:meth:`DepthVideo.to_extra`, also
stored in each sample's metadata so the depth's origin and units travel with it) and in ``depth_path``.
Depth frames are matched to RGB frames by time: the RGB frame at ``t`` seconds of its video has the depth
frame at ``t + time_offset_seconds`` of the depth video (the two streams of a LeRobot episode start at
different offsets inside their shared files).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..clips import ClipSpec
from ..video import VideoReader, VideoUnreadable, frame_index
from .base import DepthResult, DepthUnavailable
from .resize import resize_nearest

EXTRA_KEY = "depth_video"
ENCODING = "lerobot-12bit"
QMAX = 4095  # 12-bit codes
# LeRobot's DepthEncoderConfig defaults, used by LeRobot itself when a dataset does not record them.
DEFAULT_DEPTH_MIN = 0.01
DEFAULT_DEPTH_MAX = 10.0
DEFAULT_SHIFT = 3.5
DEFAULT_USE_LOG = True
# Pixel formats that hold 12-bit codes (an 8-bit stream cannot be LeRobot's quantized depth).
_TWELVE_BIT = ("gray12", "yuv420p12", "yuv422p12", "yuv444p12", "gray16", "gray14")


@dataclass(frozen=True)
class DepthVideo:
    path: str
    stream: str  # the feature name, for messages
    time_offset_seconds: float  # depth time = RGB video time + this
    frame_interval_seconds: float  # 1 / fps; a depth frame further than half of this from the RGB time is missing
    depth_min: float = DEFAULT_DEPTH_MIN
    depth_max: float = DEFAULT_DEPTH_MAX
    shift: float = DEFAULT_SHIFT
    use_log: bool = DEFAULT_USE_LOG
    parameters_recorded: bool = True  # False: the dataset did not record them and LeRobot's defaults apply
    # The unit the camera recorded in (LeRobot's ``depth_unit``: "m" or "mm"), as the dataset says; None when
    # it does not. The codes do not depend on it (LeRobot quantizes in that unit with depth_min, depth_max and
    # shift converted to it, so the ratios are the same), and dequantized depth is metres either way.
    recorded_unit: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.depth_min) and math.isfinite(self.depth_max) and self.depth_max > self.depth_min):
            raise ValueError(f"{self.stream}: expected depth_min < depth_max, got {self.depth_min}, {self.depth_max}")
        if self.use_log and self.depth_min + self.shift <= 0:
            raise ValueError(f"{self.stream}: expected depth_min + shift > 0, got {self.depth_min} + {self.shift}")

    def to_extra(self) -> dict[str, Any]:
        return {**asdict(self), "encoding": ENCODING, "units": "metres"}

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> DepthVideo:
        return cls(**{key: value for key, value in extra.items() if key not in ("encoding", "units")})

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        """(..., H, W) codes 0..4095 -> float32 metres in [depth_min, depth_max] (LeRobot's inverse), and 0
        (unknown) for the two end codes: quantizing clips a sensor's hole (depth 0) to code 0 and anything beyond
        the range to 4095, so neither is a measurement; LeRobot's reader would return depth_min (1 cm) for a
        hole, a point right in front of the lens."""
        codes = np.asarray(codes)
        if self.use_log:
            low, high = math.log(self.depth_min + self.shift), math.log(self.depth_max + self.shift)
            depth = np.exp(codes.astype(np.float64) * ((high - low) / QMAX) + low) - self.shift
        else:
            depth = codes.astype(np.float64) * ((self.depth_max - self.depth_min) / QMAX) + self.depth_min
        depth = np.clip(depth, self.depth_min, self.depth_max)
        return np.where((codes <= 0) | (codes >= QMAX), 0.0, depth).astype(np.float32)

    def quantize(self, depth: np.ndarray) -> np.ndarray:
        """float metres -> uint16 codes (LeRobot's ``quantize_depth``; used to write test data)."""
        depth = np.asarray(depth, dtype=np.float64)
        if self.use_log:
            low, high = math.log(self.depth_min + self.shift), math.log(self.depth_max + self.shift)
            norm = (np.log(depth + self.shift) - low) / (high - low)
        else:
            norm = (depth - self.depth_min) / (self.depth_max - self.depth_min)
        return np.clip(np.rint(norm * QMAX), 0, QMAX).astype(np.uint16)


def has_depth_video(clip: ClipSpec) -> bool:
    return isinstance(clip.extras.get(EXTRA_KEY), dict)


def depth_from_video(clip: ClipSpec, frames: np.ndarray, frame_indices: np.ndarray) -> DepthResult:
    """Metric depth for RGB frames ``frame_indices`` of ``clip.video_path``, at the resolution of ``frames``."""
    spec = DepthVideo.from_extra(clip.extras[EXTRA_KEY])
    try:
        times = frame_index(clip.video_path).timestamps[np.asarray(frame_indices, dtype=np.int64)]
    except VideoUnreadable as error:
        raise DepthUnavailable(f"{spec.path}: cannot place depth frames in time ({error})") from None
    codes = read_codes(spec, times + spec.time_offset_seconds)
    height, width = frames.shape[1:3]
    return DepthResult(depth=resize_nearest(spec.dequantize(codes), height=height, width=width), kind="metric")


def read_codes(spec: DepthVideo, times: np.ndarray) -> np.ndarray:
    """(T, H, W) uint16 codes of the depth frames at ``times`` (seconds in the depth video); raises
    DepthUnavailable naming the file when a frame is missing, out of reach or not 12-bit."""
    try:
        with _CodeReader(spec.path) as reader:
            index = reader.index
            tolerance = 0.5 * spec.frame_interval_seconds
            numbers = []
            for time in np.asarray(times, dtype=np.float64):
                nearest = int(np.argmin(np.abs(index.timestamps - time)))
                if abs(index.timestamps[nearest] - time) > tolerance:
                    raise DepthUnavailable(
                        f"{spec.path}: no depth frame within {tolerance * 1000:.0f} ms of {time:.3f} s "
                        f"(the stream covers {index.timestamps[0]:.3f}..{index.timestamps[-1]:.3f} s)"
                    )
                numbers.append(nearest)
            pixel_format = reader.pixel_format
            if not pixel_format.startswith(_TWELVE_BIT):
                raise DepthUnavailable(
                    f"{spec.path}: pixel format {pixel_format or 'unknown'}: expected 12-bit depth codes "
                    "(gray12le or yuv420p12le, as LeRobot writes depth); an 8-bit stream cannot hold them"
                )
            codes, missing = reader.read(numbers)
    except VideoUnreadable as error:
        raise DepthUnavailable(f"{spec.stream}: {error}") from None
    if missing:
        shown = [round(float(index.timestamps[n]), 3) for n in missing[:3]]
        raise DepthUnavailable(f"{spec.path}: depth frames at {shown} s did not decode")
    return np.stack([codes[n] for n in numbers])


class _CodeReader(VideoReader):
    """The pipeline's reader (frame index, keyframe seeking, missing frames reported) giving each frame's
    12-bit codes instead of RGB."""

    @property
    def pixel_format(self) -> str:
        return self._stream.codec_context.pix_fmt or ""

    def _convert(self, frame) -> np.ndarray:
        return self._upright(frame.to_ndarray(format="gray12le"))
