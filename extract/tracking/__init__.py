"""2D point tracking: the backends and ``create_tracker``, the one way the pipeline builds one by name."""

from __future__ import annotations

import inspect
from typing import Any

from .base import PointTracker, TrackResult
from .cotracker import CoTrackerTracker
from .dis_flow import DISFlowTracker
from .errors import TrackerUnavailable
from .opencv_lk import OpenCVLKTracker

TRACKERS: dict[str, type] = {
    OpenCVLKTracker.name: OpenCVLKTracker,
    CoTrackerTracker.name: CoTrackerTracker,
    DISFlowTracker.name: DISFlowTracker,
}


def create_tracker(name: str, **options: Any) -> PointTracker:
    """Build the tracker registered as ``name`` with keyword ``options`` (e.g. ``window=15`` for opencv-lk)."""
    if name not in TRACKERS:
        raise ValueError(f"tracker: unknown name {name!r}; known trackers: {', '.join(sorted(TRACKERS))}")
    parameters = inspect.signature(TRACKERS[name]).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ValueError(f"tracker {name!r}: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(parameters)}")
    required = [key for key, p in parameters.items() if p.default is inspect.Parameter.empty and key not in options]
    if required:
        raise ValueError(f"tracker {name!r}: missing option(s) {', '.join(required)}")
    return TRACKERS[name](**options)


__all__ = [
    "TRACKERS",
    "CoTrackerTracker",
    "DISFlowTracker",
    "OpenCVLKTracker",
    "PointTracker",
    "TrackResult",
    "TrackerUnavailable",
    "create_tracker",
]
