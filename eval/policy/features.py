"""Frozen-encoder features of demonstration frames, cached per (encoder weights, demo) on disk.

A second BC seed, a rerun or a larger demo count never re-encodes a demo it has already seen: the cache
key is the encoder's weight identity and the demo's recording setting, task and seed (not the run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..encoders import EncoderSpecError, EvalEncoder, load_eval_encoder
from ..feature_cache import FeatureCache
from .demos import Demo, DemoStore
from .state_encoders import StateEncoder, is_state_spec, load_state_encoder

FEATURE_SPLIT = "frames"
PolicyEncoder = EvalEncoder | StateEncoder  # an image encoder, or a calibration row that reads the simulator


def open_encoder(spec: str, *, last_n: int = 1) -> PolicyEncoder:
    """A calibration encoder (``oracle:state``, ``blind``) or :func:`load_eval_encoder`, with every failure
    turned into a one-line :class:`EncoderSpecError`."""
    if is_state_spec(spec):
        return load_state_encoder(spec)
    try:
        return load_eval_encoder(spec, last_n=last_n)
    except EncoderSpecError:
        raise
    except Exception as error:  # timm/transformers/hub raise many types; the user needs the spec and the reason
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise EncoderSpecError(f"encoder '{spec}': cannot load ({type(error).__name__}: {reason})") from None


@dataclass
class FeatureStats:
    computed: int = 0  # demos encoded now
    cached: int = 0  # demos whose features were already on disk
    frames: int = 0  # frames encoded now


def demo_features(
    encoder: PolicyEncoder,
    store: DemoStore,
    cache: FeatureCache,
    *,
    task: str,
    seeds: list[int],
    batch_size: int,
    device: str | torch.device = "cpu",
    stats: FeatureStats | None = None,
) -> tuple[list[np.ndarray], list[Demo]]:
    """(T, D) features and the demo (without frames) of each seed, in order; features computed at most once
    (a state encoder's come straight from the demo's observations and are not cached)."""
    stats = stats if stats is not None else FeatureStats()
    features, demos = [], []
    if not encoder.needs_image:
        for seed in seeds:
            demo = store.load(task, seed, frames=False)
            if demo.state is None:
                raise ValueError(
                    f"{store.path(task, seed)}: this demo has no simulator observations (recorded by an older "
                    "version); delete it to record it again"
                )
            features.append(encoder.state_features(demo.state))
            demos.append(demo)
        return features, demos
    for seed in seeds:
        dataset_id = store.dataset_id(task, seed)
        demo = store.load(task, seed, frames=False)
        if cache.path(encoder, dataset_id, FEATURE_SPLIT).is_file():
            stats.cached += 1
        else:
            stats.computed += 1
            stats.frames += demo.steps
        array = cache.get(
            encoder,
            dataset_id,
            FEATURE_SPLIT,
            lambda task=task, seed=seed: store.load(task, seed).rgb,
            batch_size=batch_size,
            device=device,
        )
        if array.shape[0] != demo.steps:
            raise ValueError(
                f"{cache.path(encoder, dataset_id, FEATURE_SPLIT)}: {array.shape[0]} rows for a {demo.steps}-step "
                "demo; delete the stale cache file"
            )
        features.append(array)
        demos.append(demo)
    return features, demos
