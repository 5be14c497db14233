"""Depth backends and ``create_depth_backend``, the one way the pipeline builds one by name."""

from __future__ import annotations

from typing import Any

from ..plugins import by_name, create_plugin
from .base import DepthBackend, DepthResult, DepthUnavailable
from .depth_anything import DepthAnythingDepth
from .none import NoDepth
from .recorded import RecordedDepth

DEPTH_BACKENDS = by_name(RecordedDepth, DepthAnythingDepth, NoDepth)


def create_depth_backend(name: str, **options: Any) -> DepthBackend:
    """Build the depth backend registered as ``name`` with keyword ``options`` (e.g. ``model_path=...``)."""
    return create_plugin(DEPTH_BACKENDS, name, options, kind="depth backend", plural="backends")


__all__ = [
    "DEPTH_BACKENDS",
    "DepthAnythingDepth",
    "DepthBackend",
    "DepthResult",
    "DepthUnavailable",
    "NoDepth",
    "RecordedDepth",
    "create_depth_backend",
]
