"""One clip in, triplets out: decode, track, depth, remove the camera motion, lift, filter.

Every reason a clip or a window yields no sample is a :class:`Skip` with a short reason (counted in the
manifest) and a one-line detail; nothing here raises for bad input data.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from dynaflip import __version__
from dynaflip.geometry import intrinsics_from_fov, query_grid, scale_intrinsics
from dynaflip.schema import Triplet

from .clips import ClipSpec
from .config import ExtractConfig
from .depth.base import DepthBackend, DepthUnavailable
from .egomotion import EgoMotionFailed
from .filters import check_sample, check_tracks
from .frame_check import EXPECTED_FRAMES_KEY, frame_mismatch
from .lifting import lift_window
from .sampling import ClipTooShort, Window, clip_rng, plan_windows, window_batches
from .state import state_at
from .tracking.base import PointTracker
from .video import VideoReader, VideoUnreadable

EXTRACTOR_NAME = "dynaflip-extract"
# Decoded frames held at once per clip (a long clip is decoded in batches of windows).
DECODED_BYTES_BUDGET = 256 * 2**20
# A principal point further than this share of the frame from its centre is taken for intrinsics of another
# frame (a landscape matrix for a portrait video): real lenses put it within a few percent of the centre.
PRINCIPAL_POINT_MAX_OFFSET = 0.25
# ClipSpec.extras key a source sets to True when its camera does not move (LeRobot's fixed cameras).
CAMERA_FIXED_KEY = "camera_fixed"


@dataclass
class Skip:
    clip_id: str
    reason: str
    detail: str


@dataclass
class ClipResult:
    triplets: list[Triplet] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))


class ClipProcessor:
    """Holds the backends (created once per worker) and turns clips into triplets."""

    def __init__(
        self,
        config: ExtractConfig,
        *,
        tracker: PointTracker,
        depth: DepthBackend,
        text_embeddings: dict[str, np.ndarray] | None = None,
        text_encoder: str | None = None,
    ) -> None:
        self.config = config
        self.tracker = tracker
        self.depth = depth
        self.text_embeddings = text_embeddings or {}
        self.text_encoder = text_encoder
        self.extractor = {
            "name": EXTRACTOR_NAME,
            "version": __version__,
            "tracker": f"{tracker.name}/{tracker.version}",
            "depth": f"{depth.name}/{depth.version}",
        }

    def process(self, clip: ClipSpec) -> ClipResult:
        result = ClipResult()
        clock = time.perf_counter()
        try:
            video = VideoReader(clip.video_path, short_side=self.config.output.image_size)
        except VideoUnreadable as error:
            result.skips.append(Skip(clip.clip_id, "unreadable-video", str(error)))
            return result
        with video:
            self._process(clip, video, result, clock)
        return result

    def _process(self, clip: ClipSpec, video: VideoReader, result: ClipResult, clock: float) -> None:
        """Plan the clip's windows on the frames' presentation times, then decode and extract them batch by
        batch. Depth that fails is counted once for the clip, not once per window."""
        index = video.index
        numbers = index.between(clip.start_seconds, clip.end_seconds)
        first = int(numbers[0]) if numbers.size else 0
        mismatch = frame_mismatch(clip, index.timestamps[numbers])
        if mismatch is not None:
            result.skips.append(Skip(clip.clip_id, "frame-mismatch", f"{clip.video_path}: {mismatch}"))
            return
        try:
            windows = plan_windows(
                index.timestamps[numbers], config=self.config.sampling, rng=clip_rng(clip.clip_id, self.config.seed)
            )
        except ClipTooShort as error:
            span = f"{index.timestamps[0]:.3f}..{index.timestamps[-1]:.3f} s"
            result.skips.append(
                Skip(clip.clip_id, "clip-too-short", f"{clip.video_path}: {error} (video frames {span})")
            )
            return
        intrinsics = self._intrinsics(clip, video)
        if isinstance(intrinsics, Skip):
            result.skips.append(intrinsics)
            return
        check_depth = getattr(self.depth, "check_clip", None)
        if check_depth is not None:
            try:
                check_depth(clip, num_frames=len(index), width=index.width, height=index.height)
            except DepthUnavailable as error:
                result.skips.append(Skip(clip.clip_id, "depth-unavailable", str(error)))
                return
        rotation = _rotation_record(video)
        # Stored timestamps are presentation times relative to the clip's start.
        times = np.maximum(index.timestamps - (clip.start_seconds or 0.0), 0.0)
        result.seconds["decode"] += time.perf_counter() - clock

        budget = max(64, DECODED_BYTES_BUDGET // (video.width * video.height * 3))
        undecodable: list[int] = []
        for batch in window_batches(windows, max_frames=budget):
            clock = time.perf_counter()
            try:
                frames, missing = video.read(sorted({first + i for window in batch for i in window.frames}))
            except VideoUnreadable as error:
                result.skips.append(Skip(clip.clip_id, "unreadable-video", str(error)))
                return
            result.seconds["decode"] += time.perf_counter() - clock
            undecodable += missing
            for window in batch:
                if any(first + i not in frames for i in window.frames):
                    continue  # never a neighbouring frame in place of one that does not decode
                try:
                    triplet = self._window(clip, window, first, frames, intrinsics, times, result, rotation=rotation)
                except DepthUnavailable as error:
                    result.skips.append(Skip(clip.clip_id, "depth-unavailable", str(error)))
                    return
                if triplet is not None:
                    result.triplets.append(triplet)
        if undecodable:
            lost = sum(any(first + i in undecodable for i in window.frames) for window in windows)
            shown = ", ".join(f"{index.timestamps[n]:.3f}" for n in sorted(set(undecodable))[:3])
            result.skips.append(
                Skip(
                    clip.clip_id,
                    "undecodable-frames",
                    f"{clip.video_path}: {len(set(undecodable))} frame(s) the container lists do not decode "
                    f"(at {shown} s); {lost} of {len(windows)} windows dropped",
                )
            )

    def _intrinsics(self, clip: ClipSpec, video: VideoReader) -> np.ndarray | Skip:
        """Intrinsics at the decoded frames' resolution. Sizes are the displayed (rotated) frame's, so a portrait
        phone clip's intrinsics are portrait ones, and an assumed field of view is vertical in the upright image."""
        info = video.info
        if clip.intrinsics is not None:
            native = np.asarray(clip.intrinsics, dtype=np.float32)
            cx, cy = float(native[0, 2]), float(native[1, 2])
            turned = f", displayed rotated {info.rotation} degrees from the stored frames" if info.rotation else ""
            if not (0 <= cx <= info.width and 0 <= cy <= info.height):
                return Skip(
                    clip.clip_id,
                    "bad-intrinsics",
                    f"{clip.video_path}: intrinsics: principal point (cx, cy) = ({cx:g}, {cy:g}) lies outside the "
                    f"{info.width}x{info.height} video{turned} (expected 0 <= cx <= {info.width}, 0 <= cy <= "
                    f"{info.height}: intrinsics at the video's native resolution)",
                )
            offset = max(abs(cx / info.width - 0.5), abs(cy / info.height - 0.5))
            if offset > PRINCIPAL_POINT_MAX_OFFSET:
                hint = (
                    "; they look like intrinsics of the stored, unrotated frames: give them for the upright video"
                    if info.rotation in (90, 270)
                    else ""
                )
                return Skip(
                    clip.clip_id,
                    "bad-intrinsics",
                    f"{clip.video_path}: intrinsics: principal point (cx, cy) = ({cx:g}, {cy:g}) is far from the "
                    f"centre of the {info.width}x{info.height} video{turned} (expected within "
                    f"{PRINCIPAL_POINT_MAX_OFFSET:.0%} of the size from the centre, intrinsics at the displayed "
                    f"frame's native resolution){hint}",
                )
        elif self.config.assume_fovy_degrees is not None:
            native = intrinsics_from_fov(
                fovy_degrees=self.config.assume_fovy_degrees, width=info.width, height=info.height
            )
        else:
            return Skip(
                clip.clip_id,
                "missing-intrinsics",
                f"{clip.video_path}: no intrinsics in the source; give them in the sidecar/manifest or set "
                "assume_fovy_degrees explicitly",
            )
        return scale_intrinsics(native, scale_x=video.width / info.width, scale_y=video.height / info.height)

    def _window(
        self,
        clip: ClipSpec,
        window: Window,
        first: int,
        frames: dict[int, np.ndarray],
        intrinsics: np.ndarray,
        times: np.ndarray,
        result: ClipResult,
        *,
        rotation: dict | None = None,
    ) -> Triplet | None:
        config = self.config
        key = f"{clip.clip_id}-r{first + window.reference:06d}"

        clock = time.perf_counter()
        tracked = np.stack([frames[first + i] for i in window.tracked])
        height, width = tracked.shape[1:3]
        grid = config.sampling.grid_size
        queries = query_grid(grid_size=grid, width=width, height=height, margin=config.sampling.grid_margin)
        tracking = self.tracker.track(tracked, queries)
        positions = [window.tracked.index(i) for i in window.flow]
        tracks2d = tracking.tracks[positions].astype(np.float32)
        visibility = tracking.visibility[positions].astype(bool)
        result.seconds["track"] += time.perf_counter() - clock
        rejection = check_tracks(visibility, config=config.filters)
        if rejection is not None:
            result.skips.append(Skip(clip.clip_id, rejection.reason, f"{key}: {rejection.detail}"))
            return None

        clock = time.perf_counter()
        flow_frames = np.stack([frames[first + i] for i in window.flow])
        flow_indices = np.asarray([first + i for i in window.flow], dtype=np.int64)
        depth = self.depth.depth(clip, flow_frames, flow_indices)  # DepthUnavailable: the caller skips the clip
        result.seconds["depth"] += time.perf_counter() - clock

        clock = time.perf_counter()
        try:
            lifted = lift_window(
                tracks2d,
                visibility,
                depth,
                intrinsics,
                depth_config=config.depth,
                ego_motion=config.ego_motion,
                camera_fixed=clip.extras.get(CAMERA_FIXED_KEY) is True,
            )
        except EgoMotionFailed as error:
            result.skips.append(Skip(clip.clip_id, "ego-motion-failed", f"{key}: {error}"))
            return None
        result.seconds["ego-motion"] += lifted.ego_motion_seconds
        result.seconds["lift"] += time.perf_counter() - clock - lifted.ego_motion_seconds
        points3d, valid = lifted.points3d, lifted.valid

        rejection = check_sample(valid, lifted.motion, config=config.filters)
        if rejection is not None:
            result.skips.append(Skip(clip.clip_id, rejection.reason, f"{key}: {rejection.detail}"))
            return None

        stored_indices = np.asarray([first + i for i in window.stored], dtype=np.int64)
        extras = {key: value for key, value in clip.extras.items() if key != EXPECTED_FRAMES_KEY}
        if rotation is not None:
            extras["video_rotation"] = rotation
        if clip.state_path is not None:
            extras["state"] = state_at(clip.state_path, int(stored_indices[0]))
        return Triplet(
            key=key,
            source=clip.source,
            video_id=clip.video_id,
            embodiment=clip.embodiment,
            instruction=clip.instruction,
            frames=[frames[int(i)] for i in stored_indices],
            frame_indices=stored_indices,
            timestamps=times[stored_indices],
            flow_frame_indices=flow_indices,
            tracks2d=tracks2d,
            visibility=visibility,
            points3d=points3d,
            points3d_valid=valid,
            intrinsics=intrinsics.astype(np.float32),
            depth_kind=depth.kind,
            grid_size=grid,
            extractor=self.extractor,
            text_embedding=self.text_embeddings.get(clip.instruction),
            text_encoder=self.text_encoder if clip.instruction in self.text_embeddings else None,
            extras=extras,
            ego_motion=lifted.record(),
        )


def _rotation_record(video: VideoReader) -> dict | None:
    """What the sample's meta says about a display rotation applied to the stored frames (None: none was)."""
    index = video.index
    if not index.rotation:
        return None
    width, height = index.stored_size
    return {"degrees_counterclockwise": index.rotation, "stored_size": [width, height]}
