"""Which steps of an episode become probe frames: spread along the episode, reproducible per episode."""

from __future__ import annotations

import itertools
import zlib

import numpy as np


def episode_rng(task: str, seed: int) -> np.random.Generator:
    """A generator fixed by (task, episode seed); crc32, not hash(), so it is stable across processes."""
    return np.random.default_rng([zlib.crc32(task.encode()), int(seed) & 0xFFFFFFFF])


def sample_steps(num_states: int, *, frames: int, horizon: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted distinct steps t with t + horizon < num_states: one drawn uniformly from each of ``frames``
    equal bins of the usable range (stratified, so early, middle and late phases are all covered).

    Fewer frames come back when the usable range is shorter than ``frames``.
    """
    if frames < 1:
        raise ValueError(f"frames_per_episode: expected >= 1, got {frames}")
    usable = num_states - horizon
    if usable < 1:
        raise ValueError(f"episode: {num_states} states are too few for a flow horizon of {horizon} steps")
    count = min(frames, usable)
    edges = np.floor(np.linspace(0, usable, count + 1)).astype(np.int64)
    return np.array([int(rng.integers(low, high)) for low, high in itertools.pairwise(edges)])


def shift_seed(task: str, seed: int) -> int:
    """The seed of an episode's OOD shift parameters: different per (task, episode), stable everywhere."""
    return zlib.crc32(f"{task}:{int(seed)}".encode()) & 0x7FFFFFFF
