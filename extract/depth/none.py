"""No depth at all: refused unless 2.5D flow (pixel rays at unit depth) was asked for explicitly."""

from __future__ import annotations

import numpy as np

from ..clips import ClipSpec
from .base import DepthResult, DepthUnavailable


class NoDepth:
    """Unit depth everywhere, labelled kind "none", so lifting turns each track into rays at z = 1 (2.5D flow).

    Flow without depth is a different (weaker) signal, so it is produced only with ``allow_2_5d=True``;
    otherwise every clip is refused with a message that names the option.
    """

    name = "none"
    version = "1"
    kind = "none"

    def __init__(self, *, allow_2_5d: bool = False) -> None:
        self.allow_2_5d = bool(allow_2_5d)

    def depth(self, clip: ClipSpec, frames: np.ndarray, frame_indices: np.ndarray) -> DepthResult:
        """Ones (T, H, W) at the frames' resolution, or :class:`DepthUnavailable` when 2.5D was not allowed."""
        if not self.allow_2_5d:
            raise DepthUnavailable(
                f"clip '{clip.clip_id}': depth backend 'none' gives no depth; to store 2.5D flow (rays at unit "
                "depth, depth_kind 'none') pass the allow-2.5D option allow_2_5d=True (command line: "
                "depth.allow_2_5d=true), or choose depth backend 'recorded' or 'depth-anything'"
            )
        frames = np.asarray(frames)
        if frames.ndim != 4:
            raise ValueError(f"frames: expected (T, H, W, 3), got shape {frames.shape}")
        return DepthResult(depth=np.ones(frames.shape[:3], dtype=np.float32), kind=self.kind)
