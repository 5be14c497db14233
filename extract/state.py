"""Per-frame simulator state (``NAME.state.npz``) attached to samples as ``extras["state"]``.

Only small per-frame quantities travel (end-effector position, gripper opening, object position, action,
success: at most ``MAX_VALUES`` numbers per frame); large arrays such as every body's pose stay in the file.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

MAX_VALUES = 16


@lru_cache(maxsize=2)
def _load(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: np.asarray(data[name]) for name in data.files}


def state_at(path: str, frame: int) -> dict[str, Any]:
    """The small state entries of ``path`` at video frame ``frame``, as JSON-ready lists and numbers."""
    out: dict[str, Any] = {}
    for name, values in _load(path).items():
        if values.dtype.kind not in "biuf" or values.ndim == 0 or frame >= values.shape[0]:
            continue  # names and other non-numeric entries are not per-frame state
        entry = values[frame]
        if entry.size > MAX_VALUES:
            continue
        out[name] = entry.tolist() if entry.ndim else entry.item()
    return out
