"""The extraction config (YAML-loadable; see configs/extract/default.yaml). Defaults are documented here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dynaflip.models.text_encoder import DEFAULT_TEXT_ENCODER
from dynaflip.schema import DEFAULT_FLOW_STEPS, DEFAULT_GRID_SIZE


@dataclass
class SamplingConfig:
    """Which frames make a sample.

    A window [t, t+H] gives one sample: the reference I_t, three frames from inside the window and
    I_{t+H} (R3M-style five frames), and K flow steps evenly spaced from t to t+H. ``references_per_clip``
    windows are spread over a clip with seeded jitter; a clip shorter than H gives one window over the
    whole clip with t in its first 10 % and t+H in its last 10 % (R3M's sampling).
    """

    horizon_seconds: float = 1.0
    references_per_clip: int = 2
    flow_steps: int = DEFAULT_FLOW_STEPS
    grid_size: int = DEFAULT_GRID_SIZE
    grid_margin: float = 0.05
    # Frames between t and t+H are tracked at up to this rate; faster video is subsampled for tracking.
    track_fps: float = 30.0


@dataclass
class TrackingConfig:
    backend: str = "opencv-lk"
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

    # near-static: the motion_quantile of 2D displacement (t -> t+H, stored-resolution pixels) of points
    # visible at both ends is below min_motion_pixels. A quantile, not the median, because in manipulation
    # often only the arm and one object move while most of the grid is static background.
    min_motion_pixels: float = 2.0
    motion_quantile: float = 0.9
    # too-few-visible-points: mean over steps of the fraction of grid points valid in 3D.
    min_visible_fraction: float = 0.25
    # invalid-depth: fraction of reference points with valid depth.
    min_depth_fraction: float = 0.5


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
    output: OutputConfig = field(default_factory=OutputConfig)
    # Sources without intrinsics are refused unless a vertical field of view is assumed explicitly
    # (a silently assumed FOV corrupts every 3D point; see ecosystem-lessons).
    assume_fovy_degrees: float | None = None
    seed: int = 0
