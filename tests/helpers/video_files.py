"""Video files written with PyAV that reproduce what real videos do to a decoder: AV1 (LeRobot's codec),
variable frame rate (explicit presentation times), and a container that lists more frames than it shows.

Every frame carries its number as a barcode in its top rows (:func:`read_number` reads it back after lossy
coding and resizing), above a textured scene with one moving object, so the tracker and the motion filter
have something to work with.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 10  # frame numbers 0..1023
BARCODE_ROWS = 0.2  # share of the height the barcode occupies
TIME_BASE = Fraction(1, 90000)  # MPEG's 90 kHz clock, as phones write


@functools.lru_cache(maxsize=4)
def _texture(width: int, height: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (height * 3, width * 3, 3)).astype(np.float32), (0, 0), 2.5)
    return ((texture - texture.min()) / (texture.max() - texture.min()) * 255).astype(np.uint8)


def pattern_frame(number: int, *, width: int = 128, height: int = 96) -> np.ndarray:
    """(height, width, 3) uint8: a static textured background with a textured square moving one pixel to
    the right per frame (a fixed camera watching one object), under a barcode of ``number``."""
    texture = _texture(width, height)
    image = texture[:height, :width].copy()
    rows = max(4, int(BARCODE_ROWS * height))
    side = max(8, (height - rows) // 2)
    x = 4 + number % max(1, width - side - 8)
    y = rows + (height - rows - side) // 2
    image[y : y + side, x : x + side] = texture[2 * height : 2 * height + side, 2 * width : 2 * width + side]
    for bit in range(BITS):
        left, right = bit * width // BITS, (bit + 1) * width // BITS
        image[:rows, left:right] = 255 if (number >> bit) & 1 else 0
    return image


def read_number(image: np.ndarray) -> int:
    """The frame number :func:`pattern_frame` drew into ``image`` (any size: positions are relative)."""
    height, width = image.shape[:2]
    rows = max(1, int(BARCODE_ROWS * height))
    gray = image[: rows * 3 // 4, :, :].mean(axis=(0, 2))
    number = 0
    for bit in range(BITS):
        left, right = bit * width // BITS, (bit + 1) * width // BITS
        margin = max(1, (right - left) // 4)
        if gray[left + margin : right - margin].mean() > 128:
            number |= 1 << bit
    return number


def write_frames(
    path: Path,
    frames: Sequence[np.ndarray] | np.ndarray,
    *,
    codec: str = "libx264",
    times: Sequence[float] | None = None,
    fps: int = 30,
    options: dict[str, str] | None = None,
    display_rotation: int | None = None,
) -> Path:
    """Encode RGB ``frames`` into ``path``; ``times`` (seconds) sets each frame's presentation time exactly
    (variable frame rate), else frames are 1 / ``fps`` apart. ``display_rotation`` (degrees counter-clockwise,
    as FFmpeg's display matrix and PyAV's ``frame.rotation`` count them) is written as the stream's display
    matrix, as phones tag a portrait clip stored as landscape frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if display_rotation is not None:
            stream.set_display_rotation(display_rotation)
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        if codec == "libsvtav1":
            stream.options = {"preset": "12", "g": "30", **(options or {})}
        elif options:
            stream.options = options
        for number, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            seconds = number / fps if times is None else times[number]
            frame.pts, frame.time_base = round(seconds / TIME_BASE), TIME_BASE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_pattern_video(
    path: Path,
    *,
    frames: int = 40,
    width: int = 128,
    height: int = 96,
    codec: str = "libx264",
    times: Sequence[float] | None = None,
    fps: int = 30,
) -> Path:
    images = [pattern_frame(number, width=width, height=height) for number in range(frames)]
    return write_frames(path, images, codec=codec, times=times, fps=fps)


def write_edit_list_mp4(source: Path, path: Path, *, hidden: int = 2) -> Path:
    """Remux ``source`` (H.264 mp4) so its first ``hidden`` frames lie before the presentation start: the
    muxer writes an edit list, as phone cameras do, and players (and FFmpeg) never show those frames. The
    header still counts every sample, so a decoder trusting it (decord) reports ``hidden`` frames too many
    and, asked for them, returns the last frame again."""
    with av.open(str(source)) as src, av.open(str(path), mode="w", format="mp4") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        shift = None
        for packet in src.demux(stream):
            if not packet.size:
                continue
            if shift is None:
                frame_ticks = round(1 / (float(stream.average_rate) * stream.time_base))
                shift = hidden * frame_ticks
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = out
            dst.mux(packet)
    return path


def truncate_last_packet(source: Path, path: Path) -> Path:
    """A copy of ``source`` whose last packet in file order is cut in half, as a recording interrupted
    while writing leaves it (the container's index still lists it)."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        packets = [(packet.pos, packet.size) for packet in container.demux(stream) if packet.size]
    position, size = max(packets)
    data = source.read_bytes()
    if position + size != len(data):
        raise ValueError(f"{source}: the last packet does not end the file; write it with movflags=faststart")
    path.write_bytes(data[: position + size // 2])
    return path


def write_faststart_mp4(path: Path, *, frames: int = 30, width: int = 128, height: int = 96) -> Path:
    """An H.264 mp4 with its index (moov) before the data, so cutting the end leaves the index intact."""
    images = [pattern_frame(number, width=width, height=height) for number in range(frames)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def damage_last_packet(source: Path, path: Path) -> Path:
    """A copy of ``source`` (written with :func:`write_faststart_mp4`) whose last packet in file order keeps its
    size but has its bytes zeroed (bit rot, a bad sector): the container lists the frame, no decoder shows it."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        packets = [(packet.pos, packet.size) for packet in container.demux(stream) if packet.size]
    position, size = max(packets)
    data = bytearray(source.read_bytes())
    data[position : position + size] = bytes(size)
    path.write_bytes(bytes(data))
    return path


def stored_for_display(upright: np.ndarray, display_rotation: int) -> np.ndarray:
    """The frame a camera stores so that turning it ``display_rotation`` degrees counter-clockwise shows
    ``upright`` (np.rot90 turns counter-clockwise)."""
    return np.ascontiguousarray(np.rot90(upright, k=-(display_rotation // 90)))


def write_avi(path: Path, *, frames: int = 30, codec: str = "mpeg4", fps: int = 25, b_frames: int = 2) -> Path:
    """An AVI of pattern frames with B-frames (MPEG-4 Part 2, as Xvid/DivX cameras and encoders wrote them).
    AVI stores no presentation times: FFmpeg reconstructs them, and with B-frames the first one is 1 / fps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.options = {"bf": str(b_frames), "g": "12"}
        for number in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern_frame(number), format="rgb24")
            frame.pts, frame.time_base = number, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
