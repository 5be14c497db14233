"""The extraction config (YAML-loadable; see configs/extract/default.yaml). Defaults are documented here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dynaflip.config import ConfigError
from dynaflip.models.text_encoder import DEFAULT_TEXT_ENCODER
from dynaflip.schema import DEFAULT_FLOW_STEPS, DEFAULT_GRID_SIZE


@dataclass
class SamplingConfig:
    """Which frames make a sample.

    A window [t, t+H] gives one sample: the reference I_t, three frames from inside the window and
    I_{t+H} (R3M-style five frames), and K flow steps evenly spaced from t to t+H. Windows are placed by
    the frames' presentation times and spread over a clip with seeded jitter: at least
    ``references_per_clip``, one per ``reference_spacing_seconds`` of a longer clip, at most
    ``max_references_per_clip``. A clip shorter than H gives one window over the whole clip with t in its
    first 10 % and t+H in its last 10 % (R3M's sampling).
    """

    horizon_seconds: float = 1.0
    references_per_clip: int = 2
    # Longer clips get more windows: one per this many seconds (0: always references_per_clip) ...
    reference_spacing_seconds: float = 2.0
    # ... up to this many (a 10-minute video gives 100 windows, one every 6 s).
    max_references_per_clip: int = 100
    flow_steps: int = DEFAULT_FLOW_STEPS
    grid_size: int = DEFAULT_GRID_SIZE
    grid_margin: float = 0.05
    # Frames between t and t+H are tracked at up to this rate; faster video is subsampled for tracking.
    track_fps: float = 30.0


@dataclass
class TrackingConfig:
    """The 2D tracker. ``opencv-dis`` (default): chained dense optical flow (OpenCV DIS) refined per point by
    a small Lucas-Kanade window, with a forward-backward check; it keeps more points on fast-moving objects,
    more accurately, than ``opencv-lk`` (pyramidal Lucas-Kanade), at a lower cost (bench/tracking.py).
    ``cotracker`` needs the cotracker package and ``options.checkpoint``."""

    backend: str = "opencv-dis"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DepthConfig:
    backend: str = "recorded"
    options: dict[str, Any] = field(default_factory=dict)
    # With backend "none": store 2.5D flow (rays at unit depth, depth_kind "none") instead of refusing.
    allow_2_5d: bool = False
    min_depth: float = 1e-3
    max_depth: float = 100.0
    # Depth samples whose four neighbours differ by more than this ratio straddle an edge: invalid.
    max_relative_spread: float = 0.1


@dataclass
class FilterConfig:
    """Samples failing a filter are dropped and counted in the manifest with the filter's reason."""

    # near-static: fewer than min_moving_fraction of the grid points move by min_motion_pixels or more
    # (stored-resolution pixels, at any step, measured from where the point would be if it were static, i.e.
    # after the camera's motion). Moving points are counted, not a quantile of all points taken: a small
    # object moving on a fixed camera is the motion to keep, however much static background surrounds it.
    min_motion_pixels: float = 2.0
    min_moving_fraction: float = 0.02
    # too-few-visible-points: at some flow step, fewer than this fraction of the grid points are tracked (and,
    # once lifted, valid in 3D). At every step, not on average: tracks that die at a shot cut must not pass.
    min_visible_fraction: float = 0.2
    # invalid-depth: fraction of reference points with valid depth.
    min_depth_fraction: float = 0.5


EGO_MOTION_MODES = ("auto", "estimate", "recorded", "disabled")
MIN_STATIC_POINTS = 4


@dataclass
class EgoMotionConfig:
    """Removal of the camera's own motion from the 3D flow (extract/egomotion.py).

    mode: ``auto`` uses recorded camera poses when the source has them and estimates the motion from the
    static background otherwise; ``estimate`` always estimates (recorded poses are ignored); ``recorded`` uses
    recorded poses only (without them the camera motion stays in); ``disabled`` never removes it (the camera is
    treated as static). How it was removed, and why, is recorded in each sample's meta (``ego_motion``).

    A fixed camera is the common case (robot cameras), and a large moving object in front of one would be
    taken for the background by the fit. So before fitting, "the camera did not move" is tested: it is kept
    when it explains at least ``keep_static_ratio`` times as many points as the best fitted motion (and enough
    points by the two minimums below). In ``auto`` mode a camera the source says is fixed (LeRobot's non-wrist
    cameras, a ``camera_fixed: true`` sidecar field) is not estimated at all, unless
    ``trust_source_fixed_cameras`` is false.
    """

    mode: Literal["auto", "estimate", "recorded", "disabled"] = "auto"
    # A tracked point agrees with a camera motion when it lands within this many stored-resolution pixels
    # of where that motion puts a static point.
    threshold_pixels: float = 2.0
    # Estimation fails, and the window is skipped as ego-motion-failed, when at some step fewer than
    # min_static_points tracked points, or fewer than min_static_fraction of them, agree on one motion.
    # At least 4: PnP and a homography are not defined by fewer points.
    min_static_points: int = 12
    min_static_fraction: float = 0.3
    # No camera motion is kept when it explains at least this share of the points the best fitted motion
    # explains (0.5: an object covering up to two thirds of the grid in front of a fixed camera stays an object).
    keep_static_ratio: float = 0.5
    trust_source_fixed_cameras: bool = True

    def __post_init__(self) -> None:
        if self.mode not in EGO_MOTION_MODES:
            raise ConfigError(f"'ego_motion.mode': expected one of {list(EGO_MOTION_MODES)}, got {self.mode!r}")
        if not self.threshold_pixels > 0:
            raise ConfigError(f"'ego_motion.threshold_pixels': expected a number > 0, got {self.threshold_pixels}")
        if self.min_static_points < MIN_STATIC_POINTS:
            raise ConfigError(
                f"'ego_motion.min_static_points': expected an integer >= {MIN_STATIC_POINTS} (a camera motion is not "
                f"defined by fewer points: PnP and a homography need 4), got {self.min_static_points}"
            )
        if not 0 <= self.min_static_fraction <= 1:
            raise ConfigError(
                f"'ego_motion.min_static_fraction': expected a number in [0, 1], got {self.min_static_fraction}"
            )
        if not 0 < self.keep_static_ratio <= 1:
            raise ConfigError(
                f"'ego_motion.keep_static_ratio': expected a number in (0, 1], got {self.keep_static_ratio}"
            )


@dataclass
class OutputConfig:
    # Short side (pixels) at which frames are decoded, tracked and stored; 0 keeps the native size.
    image_size: int = 224
    image_format: Literal["jpg", "png"] = "jpg"
    jpeg_quality: int = 95
    clips_per_shard: int = 32
    # Precompute the frozen text embedding once per unique instruction and store it in every sample.
    text_embeddings: bool = True
    text_encoder: str = DEFAULT_TEXT_ENCODER


@dataclass
class ExtractConfig:
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    depth: DepthConfig = field(default_factory=DepthConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    ego_motion: EgoMotionConfig = field(default_factory=EgoMotionConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    # Sources without intrinsics are refused unless a vertical field of view is assumed explicitly
    # (a silently assumed FOV corrupts every 3D point; see ecosystem-lessons).
    assume_fovy_degrees: float | None = None
    seed: int = 0
