"""Frames to measure representation health on (:mod:`dynaflip.health`), read from an extraction folder.

Deterministic by construction: the first ``samples`` samples of the folder (its shards from sizes.json in
sorted order, samples in tar order), every stored frame of each (frame0..frameK: consecutive video frames of
one clip). Each sample counts as one episode for the consecutive-frame ratio, its frame index as the order.
Used by the trainer's health monitor (train/health.py) and by ``dynaflip-probe health``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynaflip.errors import DynaflipError


class HealthDataError(DynaflipError, ValueError):
    """The frames for a health measurement cannot be read; the message names the folder and what was expected."""


@dataclass
class HealthFrames:
    """(N, H, W, 3) uint8 frames with the episode (sample) index and the frame index of each."""

    images: np.ndarray
    episode_ids: np.ndarray
    order: np.ndarray


def is_shard_folder(folder: str | Path) -> bool:
    from . import remote_io

    if remote_io.is_remote(str(folder)):  # an extraction prefix on object storage or HTTP
        return remote_io.exists(remote_io.join(str(folder), "sizes.json"))
    return (Path(folder) / "sizes.json").is_file()


def read_shard_frames(folder: str | Path, *, samples: int, what: str = "health.shards") -> HealthFrames:
    """Every stored frame of the first ``samples`` samples of an extraction folder; ``what`` names the
    setting in error messages."""
    from . import remote_io
    from .schema import FRAMES_PER_SAMPLE, SampleReader

    folder = str(folder) if remote_io.is_remote(str(folder)) else Path(folder)  # a local folder or a URL prefix
    if not is_shard_folder(folder):
        raise HealthDataError(f"{what}: '{folder}' has no sizes.json (expected an extraction output folder)")
    sizes_bytes = remote_io.read_bytes(remote_io.join(folder, "sizes.json")) if isinstance(folder, str) else None
    if samples < 2:
        raise HealthDataError(f"{what}: expected at least 2 samples, got {samples}")
    sizes = json.loads(sizes_bytes if sizes_bytes is not None else (folder / "sizes.json").read_text())
    names = [name for name, count in sorted(sizes.items()) if int(count) > 0]
    images, episodes, order = [], [], []
    taken = 0
    for name in names:
        shard = remote_io.join(str(folder), name)
        for sample in remote_io.iter_tar_samples([shard]):
            # The schema's one reader: it refuses a schema_version it does not know, in one line.
            reader = SampleReader(sample, origin=shard)
            for index in range(FRAMES_PER_SAMPLE):
                images.append(reader.frame(index))
                episodes.append(taken)
                order.append(index)
            taken += 1
            if taken == samples:
                break
        if taken == samples:
            break
    if taken < 2:
        raise HealthDataError(f"{what}: '{folder}' has {taken} sample(s); at least 2 are needed")
    sizes = {image.shape for image in images}
    if len(sizes) != 1:
        raise HealthDataError(f"{what}: '{folder}' stores frames of several sizes {sorted(sizes)}; expected one")
    return HealthFrames(images=np.stack(images), episode_ids=np.asarray(episodes), order=np.asarray(order))
