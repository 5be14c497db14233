"""Real files for the source adapter tests: tiny encoded videos, sidecars, tables, depth archives."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

# PyAV encoder per container; webm (Something-Something) needs VP9, the rest take H.264.
_CODECS = {".webm": "libvpx-vp9", ".mkv": "libx264", ".mp4": "libx264", ".mov": "libx264", ".m4v": "libx264"}


def write_video(path: Path, *, frames: int = 16, width: int = 64, height: int = 48, fps: int = 10) -> Path:
    """A short moving-gradient video encoded with PyAV; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = _CODECS[path.suffix.lower()]
    container_format = "mp4" if path.suffix.lower() in (".mp4", ".m4v") else None
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        ramp = np.arange(width, dtype=np.uint8)[None, :, None] * 3
        for index in range(frames):
            image = np.broadcast_to((ramp + index * 8) % 255, (height, width, 3)).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: Sequence[dict[str, Any] | str]) -> Path:
    """One JSON object per line; a str row is written verbatim (for malformed lines)."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    return write_text(path, "\n".join(lines) + "\n")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], *, delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_depth(path: Path, *, frames: int = 16, width: int = 64, height: int = 48) -> Path:
    """A ``NAME.depth.npz`` as the folder format defines it: float32 (T, H, W) metres + cam_to_world."""
    path.parent.mkdir(parents=True, exist_ok=True)
    depth = np.full((frames, height, width), 1.5, dtype=np.float32)
    np.savez(path, depth=depth, cam_to_world=np.tile(np.eye(4, dtype=np.float32), (frames, 1, 1)))
    return path


def write_state(path: Path, *, frames: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, qpos=np.zeros((frames, 7), dtype=np.float32))
    return path
