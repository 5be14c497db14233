"""Image features (``dtype: image``: each frame a PNG in the data parquet) as lossless videos.

The pipeline decodes clips from video files, so an image camera's episode is written once as an FFV1 video
(lossless RGB, the frames' own timestamps) under a cache folder, and reused by later runs and other nodes.
The file is written under a temporary name and renamed, so a killed run never leaves a partial video that a
rerun would trust. Converting costs one PNG decode and one FFV1 encode per frame, done while the source is
listed (before the workers start), so it is worth keeping the cache between runs.
"""

from __future__ import annotations

import os
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np

from .episodes import Episode, VideoSpan, episode_id
from .frames import EpisodeFrames
from .meta import DatasetMeta
from .parquet import ParquetUnreadable

TIME_BASE = Fraction(1, 1000)  # Matroska's


class ImageVideos:
    def __init__(self, meta: DatasetMeta, cache: Path) -> None:
        self.meta = meta
        self.cache = cache / meta.name

    def video(self, episode: Episode, key: str, frames: EpisodeFrames) -> VideoSpan:
        """The episode's frames of image feature ``key`` as a video (written on first use)."""
        path = self.cache / key / f"{episode_id(episode.index)}.mkv"
        if not path.is_file():
            images = _read_images(self.meta, episode, key)
            if len(images) != len(frames.timestamps):
                raise ParquetUnreadable(
                    f"{episode.data_path}: episode {episode.index}: column '{key}': {len(images)} images for "
                    f"{len(frames.timestamps)} frames"
                )
            try:
                _write_video(path, images, frames.timestamps, fps=self.meta.fps)
            except (OSError, ValueError, av_error()) as error:
                detail = f"{path}: cannot write the images as video ({type(error).__name__}: {error})"
                raise ParquetUnreadable(detail) from None
        return VideoSpan(path, 0.0)


def av_error() -> type[Exception]:
    import av

    return av.FFmpegError


def _read_images(meta: DatasetMeta, episode: Episode, key: str) -> list[np.ndarray]:
    import cv2
    import pyarrow.parquet as pq

    path = episode.data_path
    try:
        table = pq.read_table(
            path, columns=["frame_index", key], filters=[("episode_index", "=", episode.index)]
        ).sort_by("frame_index")
    except Exception as error:
        raise ParquetUnreadable(f"{path}: cannot read image column '{key}' ({type(error).__name__}: {error})") from None
    images = []
    for row, cell in enumerate(table.column(key).to_pylist()):
        data = cell.get("bytes") if isinstance(cell, dict) else None
        if data is None and isinstance(cell, dict) and cell.get("path"):
            try:
                data = (meta.root / cell["path"]).read_bytes()
            except OSError:
                data = None
        image = None if data is None else cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ParquetUnreadable(
                f"{path}: episode {episode.index}, frame {row}: column '{key}': expected PNG/JPEG bytes or a path "
                f"to one, got {str(cell)[:60]!r}"
            )
        images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return images


def _write_video(path: Path, images: list[np.ndarray], timestamps: np.ndarray, *, fps: float) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp-{uuid.uuid4().hex[:8]}.mkv")
    height, width = images[0].shape[:2]
    try:
        with av.open(str(temporary), mode="w") as container:
            stream = container.add_stream("ffv1", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = width, height, "bgr0"
            stream.codec_context.time_base = TIME_BASE
            for image, time in zip(images, timestamps, strict=True):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts, frame.time_base = round(float(time) / TIME_BASE), TIME_BASE
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
