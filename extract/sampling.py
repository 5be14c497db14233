"""Frame sampling: from a clip's frame times to the windows [t, t+H] that become samples.

Everything is placed by presentation time, so variable-frame-rate video keeps H in seconds: I_{t+H} is the
frame nearest to time(t) + H, windows are spread over the clip in seconds, flow steps are evenly spaced in
time and tracking subsamples by time. A long clip gets one window per ``reference_spacing_seconds`` (at
least ``references_per_clip``, at most ``max_references_per_clip``).

Deterministic per clip: the random choices come from a generator seeded by (run seed, clip id), so a rerun,
a resumed run and a run split over any number of workers produce the same samples.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from dynaflip.errors import DynaflipError
from dynaflip.schema import FRAMES_PER_SAMPLE

from .config import SamplingConfig

# Tracking keeps a frame when it is at least this share of 1 / track_fps after the last kept one: 30 fps
# video tracked at 30 fps keeps every frame despite timestamp rounding, 60 fps video keeps every other.
TRACK_GAP_SHARE = 0.75


class ClipTooShort(DynaflipError, ValueError):
    """The clip has too few frames for the requested flow steps and stored frames."""


@dataclass(frozen=True)
class Window:
    """Frame numbers (relative to the clip's first frame) of one sample."""

    stored: tuple[int, ...]  # the 5 stored frames; stored[0] = t (reference), stored[-1] = t + H
    flow: tuple[int, ...]  # K flow steps, flow[0] = t, flow[-1] = t + H
    tracked: tuple[int, ...]  # frames the tracker runs through, from t to t + H (includes every flow step)

    @property
    def reference(self) -> int:
        return self.stored[0]

    @property
    def frames(self) -> set[int]:
        """Every frame the window needs decoded."""
        return {*self.tracked, *self.stored}


def clip_rng(clip_id: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def window_count(span_seconds: float, config: SamplingConfig) -> int:
    """Windows for a clip whose reference frames can lie anywhere in a span of ``span_seconds``."""
    count = config.references_per_clip
    if config.reference_spacing_seconds > 0:
        count = max(count, 1 + math.floor(span_seconds / config.reference_spacing_seconds + 1e-9))
    return max(1, min(count, config.max_references_per_clip))


def plan_windows(timestamps: np.ndarray, *, config: SamplingConfig, rng: np.random.Generator) -> list[Window]:
    """Windows for a clip whose frames show at ``timestamps`` (N,) seconds (increasing; any origin).

    Raises :class:`ClipTooShort`."""
    times = np.asarray(timestamps, dtype=np.float64)
    count = len(times)
    minimum = max(FRAMES_PER_SAMPLE, config.flow_steps)
    if count < minimum:
        raise ClipTooShort(f"{count} frames, need at least {minimum} for {config.flow_steps} flow steps")
    if np.any(np.diff(times) <= 0):
        raise ValueError("timestamps: expected strictly increasing seconds")
    planner = _Planner(times, config=config, rng=rng)
    interval = float(np.median(np.diff(times)))
    if times[-1] - times[0] <= config.horizon_seconds + 0.5 * interval:
        return [planner.whole_clip()]
    # The last reference whose t + H still lies inside the clip (within half a frame).
    last_start = int(np.searchsorted(times, times[-1] - config.horizon_seconds + 0.5 * interval, side="right")) - 1
    number = min(window_count(float(times[last_start] - times[0]), config), last_start + 1)
    if number == 1:
        starts = {int(rng.integers(0, last_start + 1))}
    else:
        # Evenly spread in time over the clip, each jittered within half the spacing.
        span = times[last_start] - times[0]
        spacing = span / (number - 1)
        centres = np.linspace(times[0], times[last_start], number) + rng.uniform(-spacing / 2, spacing / 2, number)
        starts = {planner.nearest(centre, last=last_start) for centre in centres}
    windows = [planner.window_from(start) for start in sorted(starts)]
    windows = [window for window in windows if window is not None]
    if not windows:
        raise ClipTooShort(f"no window of {config.flow_steps} tracked frames fits in {count} frames")
    return windows


class _Planner:
    def __init__(self, times: np.ndarray, *, config: SamplingConfig, rng: np.random.Generator) -> None:
        self.times = times
        self.config = config
        self.rng = rng
        self.gap = TRACK_GAP_SHARE / config.track_fps if config.track_fps > 0 else 0.0

    def nearest(self, seconds: float, *, first: int = 0, last: int | None = None) -> int:
        last = len(self.times) - 1 if last is None else last
        right = int(np.clip(np.searchsorted(self.times, seconds), first, last))
        left = max(first, right - 1)
        return left if abs(self.times[left] - seconds) <= abs(self.times[right] - seconds) else right

    def tracked(self, start: int, end: int) -> list[int]:
        kept = [start]
        for frame in range(start + 1, end):
            if self.times[frame] - self.times[kept[-1]] >= self.gap:
                kept.append(frame)
        kept.append(end)
        return kept

    def enough(self, start: int, end: int) -> bool:
        return end - start + 1 >= FRAMES_PER_SAMPLE and len(self.tracked(start, end)) >= self.config.flow_steps

    def window_from(self, start: int) -> Window | None:
        """The window from ``start`` to the frame nearest time(start) + H, extended when H holds too few
        frames for the stored frames and flow steps; None when the clip ends first."""
        end = self.nearest(self.times[start] + self.config.horizon_seconds, first=start)
        while not self.enough(start, end):
            if end == len(self.times) - 1:
                return None
            end += 1
        return self.window(start, end)

    def whole_clip(self) -> Window:
        """R3M's sampling over a clip shorter than H: t from its first 10 %, t + H from its last 10 % (in time)."""
        times = self.times
        tenth = 0.1 * (times[-1] - times[0])
        last = len(times) - 1
        early = int(np.searchsorted(times, times[0] + tenth, side="right"))
        late = int(np.searchsorted(times, times[-1] - tenth, side="left"))
        for _ in range(8):
            start = int(self.rng.integers(0, max(1, early)))
            end = int(self.rng.integers(min(late, last), last + 1))
            if self.enough(start, end):
                return self.window(start, end)
        if not self.enough(0, last):
            raise ClipTooShort(
                f"{len(times)} frames over {times[-1] - times[0]:.2f} s hold fewer than {self.config.flow_steps} "
                f"frames at track_fps {self.config.track_fps:g}"
            )
        return self.window(0, last)

    def window(self, start: int, end: int) -> Window:
        middle = np.sort(self.rng.choice(np.arange(start + 1, end), size=FRAMES_PER_SAMPLE - 2, replace=False))
        tracked = self.tracked(start, end)
        tracked_times = self.times[tracked]
        steps = np.linspace(self.times[start], self.times[end], self.config.flow_steps)
        positions = [int(np.argmin(np.abs(tracked_times - step))) for step in steps]
        if len(set(positions)) != len(positions):
            # Uneven frame times can map two steps to one frame: fall back to evenly spaced tracked frames.
            positions = np.round(np.linspace(0, len(tracked) - 1, self.config.flow_steps)).astype(int).tolist()
        flow = tuple(tracked[p] for p in positions)
        stored = (start, *(int(m) for m in middle), end)
        return Window(stored=stored, flow=flow, tracked=tuple(tracked))


def window_batches(windows: list[Window], *, max_frames: int) -> list[list[Window]]:
    """Consecutive windows grouped so that each group needs at most ``max_frames`` decoded frames (a group
    holds at least one window): a long clip's frames are never all in memory at once, and the windows of a
    short clip, which share frames, are decoded in one pass."""
    batches: list[list[Window]] = []
    needed: set[int] = set()
    for window in windows:
        if batches and len(needed | window.frames) <= max_frames:
            batches[-1].append(window)
            needed |= window.frames
        else:
            batches.append([window])
            needed = set(window.frames)
    return batches
