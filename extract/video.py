"""Video decoding with decord: batched frame access, resized at decode time to the extraction resolution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class VideoUnreadable(RuntimeError):
    """The video cannot be opened or decoded; the message names the file."""


@dataclass
class VideoInfo:
    num_frames: int
    fps: float
    width: int  # native
    height: int


def output_size(width: int, height: int, *, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side scaled to ``short_side`` (0 = native), aspect kept."""
    if short_side <= 0 or min(width, height) == short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


class VideoReader:
    """Frames of one video at a fixed output size. ``read(indices)`` decodes them in one batched call."""

    def __init__(self, path: str, *, short_side: int = 0) -> None:
        import decord

        self.path = path
        try:
            probe = decord.VideoReader(path, num_threads=1)
            height, width = probe[0].shape[:2]
            self.info = VideoInfo(num_frames=len(probe), fps=float(probe.get_avg_fps()), width=width, height=height)
            del probe
            self.width, self.height = output_size(width, height, short_side=short_side)
            if (self.width, self.height) == (width, height):
                self._reader = decord.VideoReader(path, num_threads=1)
            else:
                self._reader = decord.VideoReader(path, num_threads=1, width=self.width, height=self.height)
        except Exception as error:  # decord raises its own error types, and RuntimeError for corrupt input
            raise VideoUnreadable(f"{path}: cannot open video ({_one_line(error)})") from None
        if self.info.num_frames <= 0 or not np.isfinite(self.info.fps) or self.info.fps <= 0:
            raise VideoUnreadable(f"{path}: video reports {self.info.num_frames} frames at {self.info.fps} fps")

    def read(self, indices: np.ndarray | list[int]) -> np.ndarray:
        """(T, H, W, 3) uint8 RGB frames at ``indices`` (video frame numbers)."""
        indices = [int(i) for i in indices]
        try:
            return self._reader.get_batch(indices).asnumpy()
        except Exception as error:
            raise VideoUnreadable(
                f"{self.path}: cannot decode frames {indices[0]}..{indices[-1]} ({_one_line(error)})"
            ) from None


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160] if text else ''}"
