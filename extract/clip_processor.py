"""One clip in, triplets out: decode, track, depth, lift, filter.

Every reason a clip or a window yields no sample is a :class:`Skip` with a short reason (counted in the
manifest) and a one-line detail; nothing here raises for bad input data.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from dynaflip import __version__
from dynaflip.geometry import intrinsics_from_fov, lift_tracks, query_grid, scale_intrinsics
from dynaflip.schema import Triplet

from .clips import ClipSpec
from .config import ExtractConfig
from .depth.base import DepthBackend, DepthUnavailable
from .sampling import ClipTooShort, Window, clip_rng, plan_windows
from .state import state_at
from .tracking.base import PointTracker
from .video import VideoReader, VideoUnreadable

EXTRACTOR_NAME = "dynaflip-extract"


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
        info = video.info
        first = 0 if clip.start_seconds is None else max(0, round(clip.start_seconds * info.fps))
        stop = info.num_frames if clip.end_seconds is None else min(info.num_frames, round(clip.end_seconds * info.fps))
        try:
            windows = plan_windows(
                stop - first, info.fps, config=self.config.sampling, rng=clip_rng(clip.clip_id, self.config.seed)
            )
        except ClipTooShort as error:
            result.skips.append(Skip(clip.clip_id, "clip-too-short", f"{clip.video_path}: {error}"))
            return result
        intrinsics = self._intrinsics(clip, video)
        if isinstance(intrinsics, Skip):
            result.skips.append(intrinsics)
            return result

        needed = sorted({first + i for window in windows for i in (*window.tracked, *window.stored)})
        try:
            decoded = video.read(needed)
        except VideoUnreadable as error:
            result.skips.append(Skip(clip.clip_id, "unreadable-video", str(error)))
            return result
        frames = dict(zip(needed, decoded, strict=True))
        result.seconds["decode"] += time.perf_counter() - clock

        for window in windows:
            triplet = self._window(clip, window, first, frames, intrinsics, info.fps, result)
            if triplet is not None:
                result.triplets.append(triplet)
        return result

    def _intrinsics(self, clip: ClipSpec, video: VideoReader) -> np.ndarray | Skip:
        info = video.info
        if clip.intrinsics is not None:
            native = np.asarray(clip.intrinsics, dtype=np.float32)
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
        fps: float,
        result: ClipResult,
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

        clock = time.perf_counter()
        flow_frames = np.stack([frames[first + i] for i in window.flow])
        flow_indices = np.asarray([first + i for i in window.flow], dtype=np.int64)
        try:
            depth = self.depth.depth(clip, flow_frames, flow_indices)
        except DepthUnavailable as error:
            result.skips.append(Skip(clip.clip_id, "invalid-depth", str(error)))
            return None
        result.seconds["depth"] += time.perf_counter() - clock

        clock = time.perf_counter()
        points3d, valid = lift_tracks(
            tracks2d,
            visibility,
            depth.depth,
            intrinsics,
            cam_to_world=depth.cam_to_world,
            min_depth=config.depth.min_depth,
            max_depth=config.depth.max_depth,
            max_relative_spread=config.depth.max_relative_spread,
        )
        result.seconds["lift"] += time.perf_counter() - clock

        skip = self._filter(key, clip, tracks2d, visibility, valid)
        if skip is not None:
            result.skips.append(skip)
            return None

        stored_indices = np.asarray([first + i for i in window.stored], dtype=np.int64)
        extras = {**clip.extras}
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
            timestamps=stored_indices / fps,
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
        )

    def _filter(
        self, key: str, clip: ClipSpec, tracks2d: np.ndarray, visibility: np.ndarray, valid: np.ndarray
    ) -> Skip | None:
        filters = self.config.filters
        depth_fraction = float(valid[0].mean())
        if depth_fraction < filters.min_depth_fraction:
            return Skip(
                clip.clip_id,
                "invalid-depth",
                f"{key}: {depth_fraction:.0%} of reference points have valid depth "
                f"(min_depth_fraction {filters.min_depth_fraction:.0%})",
            )
        visible_fraction = float(valid.mean())
        if visible_fraction < filters.min_visible_fraction:
            return Skip(
                clip.clip_id,
                "too-few-visible-points",
                f"{key}: {visible_fraction:.0%} of points valid over the steps "
                f"(min_visible_fraction {filters.min_visible_fraction:.0%})",
            )
        both = visibility[0] & visibility[-1]
        motion = np.linalg.norm(tracks2d[-1] - tracks2d[0], axis=-1)[both]
        moved = float(np.quantile(motion, filters.motion_quantile)) if motion.size else 0.0
        if moved < filters.min_motion_pixels:
            return Skip(
                clip.clip_id,
                "near-static",
                f"{key}: {filters.motion_quantile:.0%} quantile of 2D motion is {moved:.2f} px "
                f"(min_motion_pixels {filters.min_motion_pixels})",
            )
        return None
