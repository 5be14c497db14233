"""Whether a clip's span of its video holds exactly the frames its source lists (LeRobot's parquet timestamps).

LeRobot's own reader refuses a clip whose decoded frames are not within a tolerance of the parquet's
timestamps; a span one frame short (a truncated shared mp4, an off-by-one ``to_timestamp``) or long would
otherwise go through silently, every sample's frame numbers shifted. A source attaches what it expects under
``ClipSpec.extras[EXPECTED_FRAMES_KEY]`` (compact: the first time, the interval, the count, and the exact times
only when they are not evenly spaced); the pipeline compares it with the video's frame index before decoding,
and the key never reaches a sample's metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .clips import ClipSpec

EXPECTED_FRAMES_KEY = "expected_frames"
# Times within this of a uniform grid are stored as the grid (float32 parquet timestamps round at ~1e-6 s).
_UNIFORM_SLACK = 1e-4


def expected_frames(times: np.ndarray, *, interval: float, tolerance: float, what: str) -> dict[str, Any]:
    """The extras entry for frames at ``times`` (seconds in the video's frame-index time), matched within
    ``tolerance``; ``what`` names them in messages (e.g. "episode 3, camera observation.images.top")."""
    times = np.asarray(times, dtype=np.float64)
    grid = times[0] + interval * np.arange(len(times))
    entry: dict[str, Any] = {
        "first": round(float(times[0]), 6),
        "interval": interval,
        "count": len(times),
        "tolerance": tolerance,
        "what": what,
    }
    if np.max(np.abs(times - grid)) > _UNIFORM_SLACK:
        entry["times"] = [round(float(t), 6) for t in times]
    return entry


def frame_mismatch(clip: ClipSpec, found: np.ndarray) -> str | None:
    """None when ``found`` (the video's frame times inside the clip's span) are the expected frames, else a
    one-line description of the first difference. Clips without expectations always pass."""
    entry = clip.extras.get(EXPECTED_FRAMES_KEY)
    if not isinstance(entry, dict):
        return None
    count = int(entry["count"])
    if "times" in entry:
        wanted = np.asarray(entry["times"], dtype=np.float64)
    else:
        wanted = float(entry["first"]) + float(entry["interval"]) * np.arange(count)
    tolerance = float(entry["tolerance"])
    found = np.asarray(found, dtype=np.float64)
    what = entry.get("what", clip.clip_id)
    if len(found) != count:
        span = f"{found[0]:.3f}..{found[-1]:.3f} s" if len(found) else "none"
        return (
            f"{what}: the parquet lists {count} frames at {wanted[0]:.3f}..{wanted[-1]:.3f} s of the video, "
            f"its span decodes to {len(found)} ({span}); expected each frame within {tolerance * 1000:.0f} ms"
        )
    off = np.abs(found - wanted)
    if np.any(off > tolerance):
        frame = int(np.argmax(off > tolerance))
        return (
            f"{what}: frame {frame} is at {found[frame]:.3f} s of the video, the parquet says {wanted[frame]:.3f} s "
            f"(expected within {tolerance * 1000:.0f} ms)"
        )
    return None
