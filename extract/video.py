"""Video decoding with PyAV (FFmpeg): any codec FFmpeg decodes (AV1 via libdav1d, H.264, HEVC, VP9, ...),
frames addressed by their presentation timestamps, resized at decode time.

A video is described by its *frame index*: the presentation times of the frames the file can actually show,
read from the container's packets (no decoding). Packets the container marks as discarded (edit lists, as
phone cameras write them) or corrupt (a truncated file) are not frames, so the index never lists a frame that
cannot exist; a frame the index lists but the decoder cannot produce is reported missing, never replaced by a
neighbour (decord returned the previous image for such "phantom" frames). Frame ``i`` of a video is the i-th
entry of this index, and times are seconds from the first presented frame (0 for that frame in every
container: an AVI with B-frames gives its first frame a presentation time one frame in, which is not kept), so
variable-frame-rate video keeps its true timing.

Phone video is stored as the camera sensor reads it, with the display rotation (90/180/270 degrees) as a display
matrix; players apply it, and so does this reader: frames, sizes and everything measured on them (intrinsics,
depth maps) are those of the displayed, upright image. ``FrameIndex.rotation`` says what was applied.

Reading seeks to the keyframe at or before the first wanted frame and decodes forward, continuing instead of
seeking again when no keyframe lies between, so a long file holding many clips is decoded window by window.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from dynaflip.errors import DynaflipError

# swscale's bilinear filter widens with the scale factor when downscaling, so it anti-aliases like an area
# filter; it was the faster of bilinear/area for 480p -> 224 px here.
INTERPOLATION = "BILINEAR"
# Frame-rate changes smaller than this share of the median frame interval are timestamp rounding, not VFR.
VFR_TOLERANCE = 0.1
_INDEX_CACHE_SIZE = 8


class VideoUnreadable(DynaflipError, RuntimeError):
    """The video cannot be opened or decoded; the message is one line naming the file."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` reports. Sizes are native; times are seconds from the stream's start."""

    path: str
    codec: str  # the codec, e.g. "av1", "h264", "hevc", "vp9" (FFmpeg's canonical name)
    decoder: str  # the FFmpeg decoder reading it, e.g. "libdav1d" for AV1
    width: int
    height: int
    time_base: Fraction  # of the video stream's timestamps
    duration_seconds: float  # stream start to the end of the last decodable frame (lasting the interval before it)
    num_frames: int  # frames that decode (discarded, corrupt and undecodable packets excluded)
    fps: float  # average over the decodable frames
    variable_frame_rate: bool
    container_frames: int  # what the container's header claims (0 when it does not say)
    rotation: int = 0  # degrees counter-clockwise applied to the stored frames for display (0, 90, 180, 270)


@dataclass
class DecodedFrames:
    """Frames in presentation order: ``frames`` (T, H, W, 3) uint8 RGB, ``timestamps`` (T,) float64 seconds
    from the stream start, ``indices`` (T,) int64 frame numbers in the video's frame index."""

    frames: np.ndarray
    timestamps: np.ndarray
    indices: np.ndarray


@dataclass(frozen=True)
class FrameIndex:
    """The frames a file shows, in presentation order: ``pts`` (N,) int64 in ``time_base`` units,
    ``timestamps`` (N,) float64 seconds from the stream start, ``keyframe`` (N,) bool."""

    pts: np.ndarray
    timestamps: np.ndarray
    keyframe: np.ndarray
    time_base: Fraction
    start_pts: int
    codec: str
    decoder: str
    width: int  # of the displayed (rotated) frames
    height: int
    container_frames: int
    rotation: int = 0  # degrees counter-clockwise the stored frames are turned for display (0, 90, 180, 270)

    @property
    def stored_size(self) -> tuple[int, int]:
        """(width, height) of the frames as the file stores them, before the display rotation."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)

    def __len__(self) -> int:
        return len(self.pts)

    def variable_frame_rate(self) -> bool:
        if len(self) < 3:
            return False
        steps = np.diff(self.timestamps)
        typical = float(np.median(steps))
        tick = float(self.time_base)
        return bool(np.max(np.abs(steps - typical)) > max(VFR_TOLERANCE * typical, 1.5 * tick))

    def between(self, start_seconds: float | None, end_seconds: float | None) -> np.ndarray:
        """Frame numbers whose time lies in [start, end) (None: unbounded). Half a tick of slack absorbs
        the rounding of times given in seconds."""
        slack = 0.5 * float(self.time_base)
        first = 0 if start_seconds is None else int(np.searchsorted(self.timestamps, start_seconds - slack))
        stop = len(self) if end_seconds is None else int(np.searchsorted(self.timestamps, end_seconds - slack))
        return np.arange(first, max(first, stop), dtype=np.int64)

    @functools.cached_property
    def _keyframes(self) -> np.ndarray:
        return np.flatnonzero(self.keyframe)

    def keyframe_at_or_before(self, frame: int) -> int:
        """The last keyframe at or before frame number ``frame`` (0 when none is marked)."""
        position = int(np.searchsorted(self._keyframes, frame, side="right")) - 1
        return int(self._keyframes[position]) if position >= 0 else 0


def output_size(width: int, height: int, *, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side scaled to ``short_side`` (0 = native), aspect kept."""
    if short_side <= 0 or min(width, height) == short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


# ---- the frame index -------------------------------------------------------------------------------------

_index_cache: OrderedDict[tuple[str, int, int], FrameIndex] = OrderedDict()


def frame_index(path: str | os.PathLike[str]) -> FrameIndex:
    """The frame index of ``path`` (cached per file, size and modification time: the clips of one long file
    read its packets once). Raises :class:`VideoUnreadable`."""
    path = os.fspath(path)
    try:
        stat = os.stat(path)
    except OSError as error:
        raise VideoUnreadable(f"{path}: cannot open video ({error.strerror})") from None
    key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
    if key in _index_cache:
        _index_cache.move_to_end(key)
        return _index_cache[key]
    index = _build_index(path)
    _index_cache[key] = index
    while len(_index_cache) > _INDEX_CACHE_SIZE:
        _index_cache.popitem(last=False)
    return index


def clear_index_cache() -> None:
    """Forget the cached frame indexes (benchmarks time both sides from a cold cache)."""
    _index_cache.clear()


def _open(path: str):
    import av

    try:
        container = av.open(path, mode="r")
    except Exception as error:  # FFmpeg raises one error class per AVERROR code
        raise VideoUnreadable(f"{path}: cannot open video ({_one_line(error)})") from None
    if not container.streams.video:
        container.close()
        raise VideoUnreadable(f"{path}: no video stream (streams: {_stream_kinds(container)})")
    return container


def _stream_kinds(container) -> str:
    return ", ".join(stream.type for stream in container.streams) or "none"


def _build_index(path: str) -> FrameIndex:
    container = _open(path)
    try:
        stream = container.streams.video[0]
        if stream.time_base is None:
            raise VideoUnreadable(f"{path}: the video stream has no time base")
        pts, keyframe = [], []
        rotation: int | None = None
        try:
            for packet in container.demux(stream):
                if rotation is None and packet.size:
                    rotation = _rotation_from(stream, packet)
                if not packet.size or packet.is_discard or packet.is_corrupt:
                    continue  # flush marker, edit-list discard, truncated data: none is a shown frame
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is None:
                    raise VideoUnreadable(
                        f"{path}: packets without timestamps; remux it (ffmpeg -i IN -c copy OUT.mp4)"
                    )
                pts.append(int(stamp))
                keyframe.append(bool(packet.is_keyframe))
        except VideoUnreadable:
            raise
        except Exception as error:  # a damaged container part-way: the packets read so far stand
            if not pts:
                raise VideoUnreadable(f"{path}: cannot read packets ({_one_line(error)})") from None
        if rotation is None and pts:
            rotation = _flushed_rotation(stream)
        if not pts:
            raise VideoUnreadable(f"{path}: the video stream holds no frames")
        order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
        sorted_pts = np.asarray(pts, dtype=np.int64)[order]
        unique = np.concatenate([[True], np.diff(sorted_pts) > 0])  # a repeated pts would be one shown frame
        sorted_pts, flags = sorted_pts[unique], np.asarray(keyframe, dtype=bool)[order][unique]
        # Time 0 is the first presented frame: the stream's start_time is the same in mp4/mkv/webm, but AVI
        # (no presentation times of its own) with B-frames puts its first frame one frame after it.
        start = int(sorted_pts[0])
        time_base = Fraction(stream.time_base)
        context = stream.codec_context
        rotation = rotation or 0
        width, height = int(context.width), int(context.height)
        if rotation in (90, 270):
            width, height = height, width
        return FrameIndex(
            pts=sorted_pts,
            timestamps=(sorted_pts - start).astype(np.float64) * float(time_base),
            keyframe=flags,
            time_base=time_base,
            start_pts=start,
            codec=context.codec.canonical_name,
            decoder=context.name,
            width=width,
            height=height,
            container_frames=int(stream.frames or 0),
            rotation=rotation,
        )
    finally:
        container.close()


def _rotation_from(stream, packet) -> int | None:
    """The display rotation (0, 90, 180, 270 degrees counter-clockwise) from the first frame the decoder gives
    for the stream's first packets: FFmpeg attaches the container's display matrix to each decoded frame
    (PyAV's ``frame.rotation``), and PyAV reads no stream side data. None until a frame comes out."""
    import av

    try:
        frames = stream.codec_context.decode(packet)
    except (av.FFmpegError, EOFError):
        return 0  # an undecodable first packet: no rotation known, the frames are read as stored
    for frame in frames:
        return _normalise_rotation(getattr(frame, "rotation", 0))
    return None


def _flushed_rotation(stream) -> int:
    """The rotation from the frames a decoder still holds at the end (a file shorter than its delay)."""
    import av

    try:
        for frame in stream.codec_context.decode(None):
            return _normalise_rotation(getattr(frame, "rotation", 0))
    except (av.FFmpegError, EOFError):
        pass
    return 0


def _normalise_rotation(degrees: float | int | None) -> int:
    """FFmpeg's [-180, 180] display rotation as 0, 90, 180 or 270 (nearest quarter turn: phones write
    exact quarter turns; anything else is not a rotation this reader applies)."""
    if not degrees:
        return 0
    return round(float(degrees) / 90.0) % 4 * 90


# ---- reading frames --------------------------------------------------------------------------------------


class VideoReader:
    """Decodes frames of one video by frame number (entries of its :class:`FrameIndex`), at ``size``
    (width, height) or with the short side scaled to ``short_side`` (0: native). Keep one reader per clip and
    read its windows in time order: the decoder continues forward instead of seeking when it can."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        short_side: int = 0,
        size: tuple[int, int] | None = None,
        threads: int = 1,
    ) -> None:
        self.path = os.fspath(path)
        self.index = frame_index(self.path)
        native = (self.index.width, self.index.height)  # displayed, after the rotation
        if size is not None:
            if len(size) != 2 or min(int(size[0]), int(size[1])) < 1:
                raise ValueError(f"size: expected (width, height) >= 1, got {size}")
            self.width, self.height = int(size[0]), int(size[1])
        else:
            self.width, self.height = output_size(*native, short_side=short_side)
        self._resize = (self.width, self.height) != native
        # The decoder's frames are stored-orientation: resize them to the output size turned back, then rotate.
        self._turns = self.index.rotation // 90
        self._decode_size = (self.height, self.width) if self._turns % 2 else (self.width, self.height)
        self._container = _open(self.path)
        self._stream = self._container.streams.video[0]
        self._stream.codec_context.thread_count = max(1, int(threads))
        if threads > 1:
            self._stream.thread_type = "AUTO"
        self._frames: Iterator[tuple[int, object]] | None = None  # the current decoding run
        self._last = -1  # the frame number that run produced last
        self._seek_works = True
        self.frames_decoded = 0  # frames the decoder produced, converted or not (how much seeking saved)

    @property
    def info(self) -> VideoInfo:
        index = self.index
        # The last frame lasts as long as the interval before it (CFR: 1 / fps).
        last = float(index.timestamps[-1] - index.timestamps[-2]) if len(index) > 1 else 0.0
        duration = float(index.timestamps[-1]) + last
        span = float(index.timestamps[-1] - index.timestamps[0]) if len(index) > 1 else 0.0
        fps = (len(index) - 1) / span if span > 0 else 0.0
        return VideoInfo(
            path=self.path,
            codec=index.codec,
            decoder=index.decoder,
            width=index.width,
            height=index.height,
            time_base=index.time_base,
            duration_seconds=duration,
            num_frames=len(index),
            fps=fps,
            variable_frame_rate=index.variable_frame_rate(),
            container_frames=index.container_frames,
            rotation=index.rotation,
        )

    def close(self) -> None:
        self._frames = None
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, frames: Sequence[int] | np.ndarray) -> tuple[dict[int, np.ndarray], list[int]]:
        """Decode frame numbers ``frames``: ({frame number: (H, W, 3) uint8 RGB}, frame numbers that did not
        decode). A frame that fails to decode is missing from the dict, never replaced by another."""
        return self._collect(frames, convert=True)

    def decode(self, *, start_seconds: float | None = None, end_seconds: float | None = None) -> DecodedFrames:
        """Every decodable frame whose time lies in [start_seconds, end_seconds)."""
        numbers = self.index.between(start_seconds, end_seconds)
        frames, _ = self.read(numbers)
        kept = np.asarray([n for n in numbers if n in frames], dtype=np.int64)
        stacked = (
            np.stack([frames[int(n)] for n in kept])
            if kept.size
            else np.zeros((0, self.height, self.width, 3), dtype=np.uint8)
        )
        return DecodedFrames(frames=stacked, timestamps=self.index.timestamps[kept], indices=kept)

    # -- internals --

    def _collect(self, frames: Sequence[int] | np.ndarray, *, convert: bool) -> tuple[dict[int, np.ndarray], list[int]]:
        wanted = sorted({int(f) for f in frames})
        if wanted and (wanted[0] < 0 or wanted[-1] >= len(self.index)):
            raise ValueError(
                f"{self.path}: frame numbers must lie in 0..{len(self.index) - 1}, got {wanted[0]}..{wanted[-1]}"
            )
        want, out = set(wanted), {}
        for target in wanted:
            if target in out:
                continue
            key = self.index.keyframe_at_or_before(target)
            # Seek when going back, or when a keyframe after the decoder's position saves decoding frames.
            if self._frames is None or target <= self._last or key > self._last + 1:
                self._frames, self._last = self._run(key), key - 1
            for number, frame in self._frames:
                self._last = number
                if number in want and number not in out:
                    out[number] = self._convert(frame) if convert else np.empty(0, np.uint8)
                if number >= target:
                    break
            else:
                self._frames = None  # the stream ended
        return out, [n for n in wanted if n not in out]

    def _run(self, key: int) -> Iterator[tuple[int, object]]:
        """(frame number, decoded frame) from the keyframe ``key`` on, in presentation order."""
        import av

        if self._seek_works:
            try:
                self._container.seek(int(self.index.pts[key]), stream=self._stream, backward=True, any_frame=False)
            except av.FFmpegError:
                self._seek_works = False
        if not self._seek_works:
            self._container.seek(0)  # back to the very start: decode forward from there
        first, previous = True, -1
        for number, frame in self._decoded():
            if number <= previous:
                # The decoder gives frames in presentation order, so their times must increase: here they do
                # not (H.264 with B-frames in AVI, which stores no presentation times). Numbering frames by
                # those times would hand out the wrong images.
                raise VideoUnreadable(
                    f"{self.path}: decoded frames' timestamps are not in presentation order (frame time "
                    f"{float(self.index.timestamps[number]):.3f} s after {float(self.index.timestamps[previous]):.3f} "
                    "s); re-encode it (ffmpeg -i IN OUT.mp4)"
                )
            previous = number
            if first and self._seek_works and number > key:
                # The demuxer landed after the keyframe (a file without a usable index): from now on
                # this file is decoded forward from its start whenever we go back.
                self._seek_works = False
                yield from self._run(key)
                return
            first = False
            if number >= key:
                yield number, frame

    def _decoded(self) -> Iterator[tuple[int, object]]:
        import av

        codec = self._stream.codec_context
        for packet in self._container.demux(self._stream):
            try:
                frames = codec.decode(packet) if packet.size else codec.decode(None)
            except av.FFmpegError:
                continue  # a packet the decoder rejects shows nothing; its frame will be reported missing
            except EOFError:
                return
            for frame in frames:
                self.frames_decoded += 1
                number = self._number(frame.pts)
                if number is None or frame.is_corrupt:
                    continue  # not a frame of the index (edit-list leading frame), or concealed damage
                yield number, frame

    def _number(self, pts: int | None) -> int | None:
        """The frame number of a decoded frame's pts, None when the index does not list it."""
        if pts is None:
            return None
        number = int(np.searchsorted(self.index.pts, pts))
        return number if number < len(self.index.pts) and self.index.pts[number] == pts else None

    def _convert(self, frame) -> np.ndarray:
        if self._resize:
            width, height = self._decode_size
            image = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation=INTERPOLATION)
        else:
            image = frame.to_ndarray(format="rgb24")
        return self._upright(image)

    def _upright(self, image: np.ndarray) -> np.ndarray:
        """The stored-orientation image turned as the display matrix says (np.rot90 turns counter-clockwise)."""
        return np.ascontiguousarray(np.rot90(image, k=self._turns)) if self._turns else image


# ---- one-call helpers ------------------------------------------------------------------------------------


def probe_video(path: str | os.PathLike[str], *, verify_tail: bool = True) -> VideoInfo:
    """Codec, native size, time base, duration, decodable frame count, average fps, VFR flag.

    The count comes from the container's packets; with ``verify_tail`` the frames from the last keyframe on
    are decoded as well (where phantom frames live: a cut or corrupted end), and any that do not decode are
    not counted.
    """
    with VideoReader(path) as reader:
        info = reader.info
        if not verify_tail:
            return info
        last = len(reader.index) - 1
        _, missing = reader._collect(range(reader.index.keyframe_at_or_before(last), last + 1), convert=False)
    return dataclasses.replace(info, num_frames=info.num_frames - len(missing)) if missing else info


def decode_frames(
    path: str | os.PathLike[str],
    *,
    start_seconds: float | None = None,
    end_seconds: float | None = None,
    size: tuple[int, int] | None = None,
    short_side: int = 0,
    threads: int = 1,
) -> DecodedFrames:
    """The decodable frames of ``path`` whose presentation time lies in [start_seconds, end_seconds), seeking
    to the keyframe before ``start_seconds``; ``size`` = (width, height) or ``short_side`` resizes them.
    Raises :class:`VideoUnreadable`."""
    with VideoReader(path, size=size, short_side=short_side, threads=threads) as reader:
        return reader.decode(start_seconds=start_seconds, end_seconds=end_seconds)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160] if text else ''}"
