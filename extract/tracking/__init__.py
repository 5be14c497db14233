"""2D point tracking: the backends and ``create_tracker``, the one way the pipeline builds one by name."""

from __future__ import annotations

from typing import Any

from ..plugins import by_name, create_plugin
from .base import PointTracker, TrackResult
from .cotracker import CoTrackerTracker
from .dis_flow import DISFlowTracker
from .errors import TrackerUnavailable
from .opencv_lk import OpenCVLKTracker

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

TRACKERS = by_name(OpenCVLKTracker, CoTrackerTracker, DISFlowTracker)


def create_tracker(name: str, **options: Any) -> PointTracker:
    """Build the tracker registered as ``name`` with keyword ``options`` (e.g. ``window=15`` for opencv-lk)."""
    return create_plugin(TRACKERS, name, options, kind="tracker", plural="trackers")
