"""Nearest-neighbour resizing of depth maps: never blends a foreground value with a background one."""

from __future__ import annotations

import numpy as np


def nearest_indices(source: int, target: int) -> np.ndarray:
    """For each of ``target`` output pixels, the source pixel whose area contains its centre.

    Pixel centres sit at integer coordinates, so output pixel i covers [i - 0.5, i + 0.5) and its centre maps to
    source coordinate (i + 0.5) * source / target - 0.5; the containing source pixel is the floor of that + 0.5.
    """
    centres = (np.arange(target, dtype=np.float64) + 0.5) * (source / target)
    return np.clip(np.floor(centres).astype(np.int64), 0, source - 1)


def resize_nearest(maps: np.ndarray, *, height: int, width: int) -> np.ndarray:
    """Resize ``maps`` (T, H, W) to (T, height, width), each output value copied from one source pixel."""
    if maps.shape[1:] == (height, width):
        return maps
    rows = nearest_indices(maps.shape[1], height)
    cols = nearest_indices(maps.shape[2], width)
    return maps[:, rows[:, None], cols[None, :]]
