"""Depth backends and ``create_depth_backend``, the one way the pipeline builds one by name."""

from __future__ import annotations

import inspect
from typing import Any

from .base import DepthBackend, DepthResult, DepthUnavailable
from .depth_anything import DepthAnythingDepth
from .none import NoDepth
from .recorded import RecordedDepth

DEPTH_BACKENDS: dict[str, type] = {
    RecordedDepth.name: RecordedDepth,
    DepthAnythingDepth.name: DepthAnythingDepth,
    NoDepth.name: NoDepth,
}


def create_depth_backend(name: str, **options: Any) -> DepthBackend:
    """Build the depth backend registered as ``name`` with keyword ``options`` (e.g. ``model_path=...``)."""
    if name not in DEPTH_BACKENDS:
        raise ValueError(f"depth backend: unknown name {name!r}; known backends: {', '.join(sorted(DEPTH_BACKENDS))}")
    parameters = inspect.signature(DEPTH_BACKENDS[name]).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        accepted = ", ".join(parameters) or "none"
        raise ValueError(f"depth backend {name!r}: unknown option(s) {', '.join(unknown)}; accepted: {accepted}")
    required = [key for key, p in parameters.items() if p.default is inspect.Parameter.empty and key not in options]
    if required:
        raise ValueError(f"depth backend {name!r}: missing option(s) {', '.join(required)}")
    return DEPTH_BACKENDS[name](**options)


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
