"""Frozen features of every split, through the feature cache, with progress and throughput counts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dynaflip.errors import DynaflipError

from ..encoders import EvalEncoder
from ..feature_cache import FeatureCache
from .dataset import ProbeDataset


class FeatureCacheError(DynaflipError, RuntimeError):
    """A cached feature file does not fit the probe data; the message names the file to delete."""


@dataclass
class FeatureStats:
    """What feature extraction cost: images encoded now, and splits served from the cache."""

    images: int = 0
    seconds: float = 0.0
    computed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "feature_seconds": self.seconds,
            "images_encoded": self.images,
            "images_per_second": self.images_per_second,
            "cached_splits": len(self.cached),
            "computed_splits": len(self.computed),
        }


class _CountingEncoder:
    """Stands in for the encoder inside FeatureCache: same cache key, features in chunks with progress."""

    def __init__(self, encoder: EvalEncoder, bar: Any, stats: FeatureStats) -> None:
        self.identity, self.last_n = encoder.identity, encoder.last_n  # what FeatureCache.path keys on
        self._encoder, self._bar, self._stats = encoder, bar, stats

    def features(self, images: np.ndarray, **kwargs: Any) -> np.ndarray:
        chunk = 4 * int(kwargs.get("batch_size", 64))  # a few batches per update keeps the bar live
        started, out = time.perf_counter(), []
        for start in range(0, len(images), chunk):
            out.append(self._encoder.features(images[start : start + chunk], **kwargs))
            self._bar.update(len(out[-1]))
        self._stats.seconds += time.perf_counter() - started
        self._stats.images += len(images)
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def split_features(
    dataset: ProbeDataset,
    encoder: EvalEncoder,
    splits: list[str],
    *,
    cache: FeatureCache,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], FeatureStats]:
    """(N, D) float32 features of each split, computed once per (encoder, dataset, split, last_n)."""
    from tqdm.auto import tqdm

    stats = FeatureStats()
    missing = [split for split in splits if not cache.path(encoder, dataset.dataset_id, split).is_file()]
    total = sum(dataset.num_frames(split) for split in missing)
    bar = tqdm(total=total, desc=f"features {encoder.name}", unit="img", disable=not progress or total == 0)
    counting = _CountingEncoder(encoder, bar, stats)
    features: dict[str, np.ndarray] = {}
    try:
        for split in splits:
            (stats.computed if split in missing else stats.cached).append(split)
            values = cache.get(
                counting,
                dataset.dataset_id,
                split,
                lambda split=split: dataset.images(split),
                batch_size=batch_size,
                device=device,
            )
            if len(values) != dataset.num_frames(split) or values.ndim != 2:
                path = cache.path(encoder, dataset.dataset_id, split)
                raise FeatureCacheError(
                    f"feature cache: '{path}' has shape {values.shape}, expected "
                    f"({dataset.num_frames(split)}, D); delete it to recompute"
                )
            features[split] = values
    finally:
        bar.close()
    return features, stats
