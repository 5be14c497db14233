"""Frame sampling: from a clip's length to the windows [t, t+H] that become samples.

Deterministic per clip: the random choices come from a generator seeded by (run seed, clip id), so a rerun,
a resumed run and a run split over any number of workers produce the same samples.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from dynaflip.schema import FRAMES_PER_SAMPLE

from .config import SamplingConfig


class ClipTooShort(ValueError):
    """The clip has too few frames for the requested flow steps and stored frames."""


@dataclass(frozen=True)
class Window:
    """Frame indices (relative to the clip's first frame) of one sample."""

    stored: tuple[int, ...]  # the 5 stored frames; stored[0] = t (reference), stored[-1] = t + H
    flow: tuple[int, ...]  # K flow steps, flow[0] = t, flow[-1] = t + H
    tracked: tuple[int, ...]  # frames the tracker runs through, from t to t + H (includes every flow step)

    @property
    def reference(self) -> int:
        return self.stored[0]


def clip_rng(clip_id: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def plan_windows(num_frames: int, fps: float, *, config: SamplingConfig, rng: np.random.Generator) -> list[Window]:
    """Windows for a clip of ``num_frames`` frames at ``fps``. Raises :class:`ClipTooShort`."""
    horizon = max(1, round(config.horizon_seconds * fps))
    stride = max(1, round(fps / config.track_fps)) if config.track_fps > 0 else 1
    # Enough frames inside a window for three distinct middle frames and K distinct flow steps.
    minimum = max(FRAMES_PER_SAMPLE, (config.flow_steps - 1) * stride + 1)
    if num_frames < minimum:
        raise ClipTooShort(f"{num_frames} frames, need at least {minimum} for {config.flow_steps} flow steps")
    if num_frames <= horizon + 1:
        return [_whole_clip_window(num_frames, stride=stride, config=config, rng=rng, minimum=minimum)]
    horizon = max(horizon, minimum - 1)
    last_start = num_frames - 1 - horizon
    count = max(1, min(config.references_per_clip, last_start + 1))
    if count == 1:
        starts = {int(rng.integers(0, last_start + 1))}
    else:
        # Evenly spread over the clip, each jittered within half the spacing.
        spacing = last_start / (count - 1)
        centres = np.linspace(0, last_start, count) + rng.uniform(-spacing / 2, spacing / 2, size=count)
        starts = {int(np.clip(round(centre), 0, last_start)) for centre in centres}
    return [_window(start, start + horizon, stride=stride, config=config, rng=rng) for start in sorted(starts)]


def _whole_clip_window(
    num_frames: int, *, stride: int, config: SamplingConfig, rng: np.random.Generator, minimum: int
) -> Window:
    """R3M's sampling over a short clip: t from the first 10 %, t + H from the last 10 %."""
    tenth = max(1, int(0.1 * num_frames))
    for _ in range(8):
        start = int(rng.integers(0, tenth))
        end = int(num_frames - 1 - rng.integers(0, tenth))
        if end - start + 1 >= minimum:
            return _window(start, end, stride=stride, config=config, rng=rng)
    return _window(0, num_frames - 1, stride=stride, config=config, rng=rng)


def _window(start: int, end: int, *, stride: int, config: SamplingConfig, rng: np.random.Generator) -> Window:
    middle = np.sort(rng.choice(np.arange(start + 1, end), size=FRAMES_PER_SAMPLE - 2, replace=False))
    tracked = list(range(start, end + 1, stride))
    if tracked[-1] != end:
        tracked.append(end)
    positions = np.round(np.linspace(0, len(tracked) - 1, config.flow_steps)).astype(int)
    flow = tuple(tracked[p] for p in positions)
    if len(set(flow)) != len(flow):
        raise ClipTooShort(f"window [{start}, {end}] has too few tracked frames for {config.flow_steps} steps")
    stored = (start, *(int(m) for m in middle), end)
    return Window(stored=stored, flow=flow, tracked=tuple(tracked))
