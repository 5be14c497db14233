"""Features cached on disk per (encoder weights, dataset, split, layers), so a sweep never recomputes them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from dynaflip.io import atomic_path

from .encoders import EvalEncoder


class FeatureCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, encoder: EvalEncoder, dataset_id: str, split: str) -> Path:
        return self.root / encoder.identity / f"{dataset_id}-{split}-last{encoder.last_n}.npy"

    def get(
        self, encoder: EvalEncoder, dataset_id: str, split: str, images: Callable[[], np.ndarray], **kwargs
    ) -> np.ndarray:
        """Cached features, or ``encoder.features(images(), **kwargs)`` computed once and stored atomically."""
        path = self.path(encoder, dataset_id, split)
        if path.is_file():
            return np.load(path)
        features = encoder.features(images(), **kwargs).astype(np.float32)
        with atomic_path(path) as temp, open(temp, "wb") as handle:
            np.save(handle, features)
        return features
