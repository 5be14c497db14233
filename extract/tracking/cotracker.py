"""Optional learned tracker: CoTracker3 (offline), from the ``cotracker`` package.

CoTracker is not on PyPI: users install it from its repository and download a checkpoint themselves. Its code
and weights are licensed CC-BY-NC, so it is a backend, never a dependency. Nothing is imported from it until a
tracker is built; when the package or the checkpoint is missing, building the tracker fails with one line
saying what is missing and how to get it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np
import torch

from .base import TrackResult, validate_inputs
from .errors import TrackerUnavailable

INSTALL_HINT = "pip install git+https://github.com/facebookresearch/co-tracker; its code and weights are CC-BY-NC"
CHECKPOINT_HINT = "download a CoTracker3 offline checkpoint, e.g. scaled_offline.pth, from the CoTracker repository"


def missing_requirements(checkpoint: str) -> list[str]:
    """What keeps CoTracker from running here (empty when it can run)."""
    missing = []
    if importlib.util.find_spec("cotracker") is None:
        missing.append(f"the package 'cotracker' is not installed ({INSTALL_HINT})")
    if not Path(checkpoint).expanduser().is_file():
        missing.append(f"checkpoint '{checkpoint}' not found ({CHECKPOINT_HINT})")
    return missing


class CoTrackerTracker:
    """CoTracker3 offline predictor on ``device``; queries go through in chunks of at most ``grid_chunk`` points
    (each chunk is tracked jointly with CoTracker's own support grid), which bounds memory."""

    name = "cotracker"

    def __init__(self, *, checkpoint: str, device: str = "cpu", grid_chunk: int = 1024) -> None:
        missing = missing_requirements(checkpoint)
        if missing:
            raise TrackerUnavailable(
                f"tracker 'cotracker': {'; '.join(missing)} - use tracker 'opencv-lk' or install it"
            )
        if grid_chunk < 1:
            raise ValueError(f"grid_chunk: expected >= 1 query points per pass, got {grid_chunk}")
        self.checkpoint = str(Path(checkpoint).expanduser())
        self.device = device
        self.grid_chunk = int(grid_chunk)
        self.version = f"cotracker-{_package_version()};checkpoint={Path(self.checkpoint).name}"
        self._model: torch.nn.Module | None = None  # loaded on first use, so building the tracker stays cheap

    def _predictor(self) -> torch.nn.Module:
        if self._model is None:
            from cotracker.predictor import CoTrackerPredictor

            self._model = CoTrackerPredictor(checkpoint=self.checkpoint).to(self.device).eval()
        return self._model

    def track(self, frames: np.ndarray, queries: np.ndarray) -> TrackResult:
        """Track ``queries`` (N, 2) (u, v), given on ``frames[0]``, through ``frames`` (T, H, W, 3) uint8 RGB."""
        frames, queries = validate_inputs(frames, queries)
        num_frames, height, width = frames.shape[:3]
        tracks = np.repeat(queries[None], num_frames, axis=0)
        visibility = np.zeros((num_frames, len(queries)), dtype=bool)
        visibility[0] = True
        if num_frames == 1 or len(queries) == 0:
            return TrackResult(tracks=tracks, visibility=visibility)

        model = self._predictor()
        # CoTracker wants (B, T, 3, H, W) float in 0-255 and queries (B, N, 3) as (frame, x, y) in input pixels.
        # torch.tensor copies, so read-only frames (e.g. from a decoder) are fine.
        video = torch.tensor(frames, device=self.device).permute(0, 3, 1, 2)[None].float()
        with torch.inference_mode():
            for first in range(0, len(queries), self.grid_chunk):
                chunk = torch.from_numpy(queries[first : first + self.grid_chunk]).to(self.device)
                prompts = torch.cat([torch.zeros_like(chunk[:, :1]), chunk], dim=1)[None]
                predicted, visible = model(video, queries=prompts)
                tracks[:, first : first + len(chunk)] = predicted[0].float().cpu().numpy()
                visibility[:, first : first + len(chunk)] = visible[0].bool().cpu().numpy()
        # The interface promises frame 0 = the queries exactly, and nothing visible outside the image.
        tracks[0], visibility[0] = queries, True
        u, v = tracks[..., 0], tracks[..., 1]
        visibility &= np.isfinite(u) & np.isfinite(v) & (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
        visibility[0] = True
        return TrackResult(tracks=tracks.astype(np.float32), visibility=visibility)


def _package_version() -> str:
    try:
        return importlib.metadata.version("cotracker")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
