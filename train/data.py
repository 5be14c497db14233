"""The training data pipeline over webdataset shards.

Design (see ecosystem-lessons: webdataset and accelerate):

- Resampled shards: every (rank, loader worker) draws shards with replacement from its own seeded stream,
  so the stream never ends, every rank runs the same number of steps, and no rank can be left without a
  shard. We do the rank/worker split ourselves; the loader is never passed to ``accelerator.prepare``.
- Shard sets are mixed per sample in proportion to their weights (a shard of set s is drawn with
  probability proportional to weight_s / samples_s, using the sizes from the extraction manifests).
- Every random choice is a function of (seed, epoch, rank, worker, sample counter), and each batch reports
  how many raw samples its worker has consumed. A checkpoint stores those counters, so a resumed run skips
  exactly the consumed raw samples (without decoding them) and continues with the very same batches.
- A corrupt tar member or sample is skipped by a handler that logs it and counts it; the count travels with
  the next batch to the trainer.
- Decoding and augmentation run on the loader workers and batches are built inside the pipeline.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from dynaflip import remote_io
from dynaflip.batch import Batch, StreamMark
from dynaflip.remote_io import ReadStats
from dynaflip.schema import SampleReader, SchemaError, SchemaVersionError

from .augment import augment_frames, crop_points, sample_params
from .config import DataConfig, ShardSet

log = logging.getLogger("dynaflip.train.data")
FRAMES_USED = (0, None, 4)  # I_t, one random middle frame (1..3), I_t+H


def stable_hash(text: str) -> int:
    """A 63-bit hash that is the same in every process (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def _seed(*parts: Any) -> int:
    return stable_hash(":".join(str(part) for part in parts))


@dataclass
class ResolvedSet:
    name: str
    urls: list[str]
    sizes: list[int]
    weight: float

    @property
    def samples(self) -> int:
        return sum(self.sizes)


def read_index(folder: str, name: str) -> bytes | None:
    """The bytes of ``folder/name`` (``sizes.json``, ``manifest.json``) for a local folder or a remote prefix,
    None when there is none. Remote reads are retried; refused credentials raise one line here, at start."""
    if remote_io.is_remote(folder):
        try:
            return remote_io.read_bytes(remote_io.join(folder, name))
        except remote_io.RemoteAccessError as error:
            if isinstance(error.__cause__, FileNotFoundError) or "does not exist" in str(error):
                return None
            raise
    file = Path(folder) / name
    return file.read_bytes() if file.is_file() else None


def shard_set_manifest(path: str) -> bytes | None:
    """The content of a shard set's extraction manifest (local folder or remote prefix), sizes.json when it has
    none, None for a brace pattern: what identifies the data of a run (provenance, resume fingerprint)."""
    if not remote_io.is_remote(path) and not Path(path).is_dir():
        return None
    for name in ("manifest.json", "sizes.json"):
        content = read_index(path, name)
        if content is not None:
            return content
    return None


def resolve_shard_set(shard_set: ShardSet) -> ResolvedSet:
    """Shard URLs and per-shard sample counts of a set, from its ``sizes.json`` (never by scanning). The set is
    a local folder, a remote prefix (``s3://bucket/prefix``, ``gs://``, ``https://``, any fsspec URL) or a
    brace pattern of shards."""
    path = shard_set.path
    remote = remote_io.is_remote(path) and "{" not in path
    if remote or Path(path).is_dir():
        sizes_file = remote_io.join(path, "sizes.json") if remote else str(Path(path) / "sizes.json")
        content = read_index(path, "sizes.json")
        if content is None:
            raise FileNotFoundError(
                f"{path}: no sizes.json (an extraction folder has one; run 'dynaflip-extract finalize {path}')"
            )
        sizes = json.loads(content)
        manifest = read_index(path, "manifest.json")
        if manifest is not None and not json.loads(manifest).get("complete", True):
            log.warning("%s: the extraction is not complete; training on the shards finished so far", path)
        join = remote_io.join if remote else (lambda folder, name: str(Path(folder) / name))
        entries = [(join(path, name), int(count)) for name, count in sorted(sizes.items()) if int(count) > 0]
        if not remote:  # remote shards are not listed here: one that cannot be read is skipped and counted
            missing = [url for url, _ in entries if not Path(url).is_file()]
            if missing:
                raise FileNotFoundError(f"{sizes_file}: lists {missing[0]} which does not exist")
        elif entries and not remote_io.exists(entries[0][0]):
            raise FileNotFoundError(f"{sizes_file}: lists {entries[0][0]} which does not exist")
    else:
        import braceexpand

        urls = list(braceexpand.braceexpand(path))
        if not any(char in path for char in "{*?") and not remote_io.is_remote(path) and not Path(path).exists():
            raise FileNotFoundError(f"data.shards: '{path}': no such shard folder (expected a folder with sizes.json)")
        if shard_set.samples is None:
            raise ValueError(f"data.shards: '{path}' is a pattern, so its 'samples' count is needed")
        per_shard = max(1, shard_set.samples // max(1, len(urls)))
        entries = [(url, per_shard) for url in urls]
    if not entries:
        raise ValueError(f"data.shards: '{path}' has no non-empty shards")
    if shard_set.weight <= 0:
        raise ValueError(f"data.shards: '{path}': weight must be positive, got {shard_set.weight}")
    return ResolvedSet(name=path, urls=[u for u, _ in entries], sizes=[s for _, s in entries], weight=shard_set.weight)


@dataclass
class StreamState:
    """Where each loader worker's stream stands; what a checkpoint needs to resume the data exactly."""

    epoch: int = 0
    batches_in_epoch: int = 0  # batches the trainer has taken this epoch (on this rank)
    raw_consumed: dict[int, int] = field(default_factory=dict)  # effective worker -> raw samples consumed

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch, "raw_consumed": self.raw_consumed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamState:
        return cls(
            epoch=int(data["epoch"]),
            batches_in_epoch=int(data["batches_in_epoch"]),
            raw_consumed={int(k): int(v) for k, v in data["raw_consumed"].items()},
        )


def _is_folder(path: str) -> bool:
    return (remote_io.is_remote(path) and "{" not in path) or Path(path).is_dir()


class SkipCounter:
    """webdataset handler: log the error with its shard, count it, carry on."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, error: Exception) -> bool:
        self.count += 1
        if self.count <= 5 or self.count % 100 == 0:
            log.warning(
                "skipping a corrupt sample or tar member (%d so far in this worker): %s", self.count, _one_line(error)
            )
        return True


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


class TripletStream(IterableDataset):
    """Infinite stream of augmented training batches for one rank (split further over loader workers)."""

    def __init__(
        self,
        sets: list[ResolvedSet],
        config: DataConfig,
        *,
        grid_size: int,
        seed: int,
        rank: int,
        num_workers: int,
    ) -> None:
        self.sets = sets
        self.config = config
        self.grid_size = grid_size
        self.seed = seed
        self.rank = rank
        self.num_workers = max(1, num_workers)
        # Where the stream starts (a StreamState): set before the loader starts its workers.
        self.start_epoch = 0
        self.start_batch = 0
        self.batches_per_epoch = 1
        self.skip_raw: dict[int, int] = {}
        urls, probabilities = [], []
        for shard_set in sets:
            for url in shard_set.urls:
                urls.append(url)
                probabilities.append(shard_set.weight / shard_set.samples)
        self.urls = urls
        self.cumulative = np.cumsum(np.asarray(probabilities) / np.sum(probabilities))

    def __iter__(self) -> Iterator[tuple[Batch, int] | SchemaVersionError]:
        """The loader's batches, epoch after epoch, from one set of workers that lives as long as the loader.

        Loader batch n comes from physical worker n % W (the DataLoader asks its workers in turn, in order),
        and is batch k of its epoch; batch k is built by the effective worker k % W of that epoch. So each
        (epoch, effective worker) stream is served by one physical worker, in order, whatever the epoch's
        length: a worker that passes into the next epoch starts that epoch's stream there."""
        info = get_worker_info()
        physical = info.id if info is not None else 0
        workers = self.num_workers if info is not None else 1
        first = self.batches_per_epoch - self.start_batch  # loader batches left in the starting epoch
        current: tuple[int, int] | None = None
        stream: Iterator[tuple[Batch, int] | SchemaVersionError] = iter(())
        for n in itertools.count(physical, workers):
            if n < first:
                epoch, k = self.start_epoch, self.start_batch + n
            else:
                epoch, k = (
                    self.start_epoch + 1 + (n - first) // self.batches_per_epoch,
                    (n - first) % self.batches_per_epoch,
                )
            key = (epoch, k % self.num_workers)
            if key != current:
                skip = self.skip_raw.get(key[1], 0) if epoch == self.start_epoch else 0
                current, stream = key, self._worker_stream(*key, skip=skip)
            item = next(stream)
            yield item
            if isinstance(item, SchemaVersionError):
                return

    def _worker_stream(self, epoch: int, worker: int, *, skip: int) -> Iterator[tuple[Batch, int] | SchemaVersionError]:
        """The batches of one effective worker in one epoch, after ``skip`` raw samples, each with the remote
        read retries since its previous batch."""
        key = (self.seed, epoch, self.rank, worker)
        shard_rng = random.Random(_seed(*key, "shards"))
        shuffle_rng = random.Random(_seed(*key, "shuffle"))
        skipper = SkipCounter()
        io_stats = ReadStats()
        raw = self._shuffled(self._raw_samples(shard_rng, skipper, io_stats), shuffle_rng)
        consumed = 0
        reported_skips = reported_retries = 0
        batch: list[dict[str, Any]] = []
        for sample in raw:
            consumed += 1
            if consumed <= skip:
                continue  # already trained on before the checkpoint: skip without decoding
            try:
                decoded = decode_training_sample(
                    sample,
                    rng=random.Random(_seed(*key, "augment", consumed)),
                    config=self.config,
                    grid_size=self.grid_size,
                )
            except SchemaVersionError as error:
                # Not a corrupt sample but a shard this reader must not guess at: handed to the trainer, which
                # raises it in the main process as the one line it is (a worker's raise would be wrapped).
                yield error
                return
            except Exception as error:
                skipper(error)
                continue
            batch.append(decoded)
            if len(batch) == self.config.batch_size:
                out = collate(batch)
                out.stream = StreamMark(worker=worker, raw_consumed=consumed, skipped=skipper.count - reported_skips)
                reported_skips = skipper.count
                yield out, io_stats.retries - reported_retries
                reported_retries = io_stats.retries
                batch = []

    def _raw_samples(self, rng: random.Random, skipper: SkipCounter, stats: ReadStats) -> Iterator[dict[str, Any]]:
        from webdataset.tariterators import group_by_keys, tar_file_expander

        while True:
            index = int(np.searchsorted(self.cumulative, rng.random(), side="right"))
            url = self.urls[min(index, len(self.urls) - 1)]
            yield from group_by_keys(tar_file_expander(_opened(url, skipper, stats), handler=skipper), handler=skipper)

    def _shuffled(self, samples: Iterator[dict[str, Any]], rng: random.Random) -> Iterator[dict[str, Any]]:
        size = self.config.shuffle_buffer
        if size <= 1:
            yield from samples
            return
        initial = min(size, 100)  # start yielding early, grow the buffer to its full size as we go
        buffer: list[dict[str, Any]] = []
        for sample in samples:
            if len(buffer) < size:
                buffer.append(sample)
                if len(buffer) < initial:
                    continue
            index = rng.randrange(len(buffer))
            buffer[index], sample = sample, buffer[index]
            yield sample


def _opened(url: str, skipper: SkipCounter, stats: ReadStats) -> Iterator[dict[str, Any]]:
    """The shard as webdataset's tar reader takes it: a local file, or a remote object streamed with retries. A
    shard that cannot be opened (or keeps failing) is skipped and counted like a corrupt one."""
    try:
        stream = remote_io.open_stream(url, stats=stats) if remote_io.is_remote(url) else open(url, "rb")
    except Exception as error:
        skipper(error)
        return
    try:
        yield {"url": url, "stream": stream}
    finally:
        stream.close()


def decode_training_sample(
    sample: dict[str, Any], *, rng: random.Random, config: DataConfig, grid_size: int
) -> dict[str, Any]:
    """Raw tar members -> the tensors of one training example (frames as uint8, augmented). The members are
    read by the schema's :class:`~dynaflip.schema.SampleReader` (an unknown schema_version is refused there),
    only those training needs."""
    reader = SampleReader(sample)
    meta = reader.meta
    if meta["grid_size"] != grid_size:
        raise reader.fail("grid_size", f"{grid_size} (model.grid_size)", repr(meta["grid_size"]))
    middle = rng.choice((1, 2, 3))
    frames = torch.stack([_frame(reader, 0), _frame(reader, middle), _frame(reader, 4)])
    points3d = reader.array("points3d")
    valid = reader.array("points3d_valid")
    height, width = frames.shape[2], frames.shape[3]
    params = sample_params(height, width, rng=rng, crop_scale=config.crop_scale, jitter=config.color_jitter)
    # Where each query point of the flow lands in the augmented image (the actor is told, see augment.py).
    tracks2d = reader.array("tracks2d")
    text_embedding = reader.array("text_embedding")
    return {
        "frames": augment_frames(frames, params, size=config.image_size),
        "queries2d": torch.from_numpy(crop_points(tracks2d[0], params, size=config.image_size)),
        "crop": (params.top, params.left, params.height, params.width),  # in stored-frame pixels
        "points3d": torch.from_numpy(points3d),
        "points3d_valid": torch.from_numpy(valid),
        "instruction": meta["instruction"],
        "text_id": stable_hash(meta["instruction"]),
        "clip_id": stable_hash(f"{meta['source']}/{meta['video_id']}"),
        "text_encoder": meta.get("text_encoder"),
        "text_embedding": torch.from_numpy(text_embedding) if text_embedding is not None else None,
    }


def _frame(reader: SampleReader, index: int) -> torch.Tensor:
    return torch.from_numpy(reader.frame(index).copy()).permute(2, 0, 1)


def collate(samples: list[dict[str, Any]]) -> Batch:
    steps = {s["points3d"].shape[0] for s in samples}
    if len(steps) > 1:
        raise SchemaError(f"batch mixes flow lengths {sorted(steps)}: every shard set must use the same flow_steps")
    encoders = {s["text_encoder"] for s in samples}
    cached = all(s["text_embedding"] is not None for s in samples) and len(encoders) == 1
    return Batch(
        frames=torch.stack([s["frames"] for s in samples]),
        points3d=torch.stack([s["points3d"] for s in samples]),
        points3d_valid=torch.stack([s["points3d_valid"] for s in samples]),
        queries2d=torch.stack([s["queries2d"] for s in samples]),
        instructions=[s["instruction"] for s in samples],
        text_ids=torch.tensor([s["text_id"] for s in samples], dtype=torch.int64),
        clip_ids=torch.tensor([s["clip_id"] for s in samples], dtype=torch.int64),
        text_embedding=torch.stack([s["text_embedding"] for s in samples]) if cached else None,
        text_encoder=encoders.pop() if cached else None,
    )


class TrainingData:
    """Epochs of batches for one rank, resumable from a :class:`StreamState`."""

    def __init__(self, config: DataConfig, *, grid_size: int, seed: int, rank: int, world_size: int) -> None:
        if not config.shards:
            raise ValueError(
                "data.shards: at least one shard set is needed (e.g. data.shards=[{path: data/metaworld}])"
            )
        self.config = config
        self.sets = [resolve_shard_set(shard_set) for shard_set in config.shards]
        self.dataset_size = sum(shard_set.samples for shard_set in self.sets)
        samples_per_epoch = config.samples_per_epoch or self.dataset_size
        self.batches_per_epoch = max(1, samples_per_epoch // (config.batch_size * world_size))
        self.remote_retries = 0  # transient remote read errors retried, all workers (see dynaflip.remote_io)
        self.stream = TripletStream(
            self.sets, config, grid_size=grid_size, seed=seed, rank=rank, num_workers=config.workers
        )

    def summary(self) -> list[dict[str, Any]]:
        """Each shard set's path, sample count and the sha256 of its extraction manifest (provenance)."""
        out = []
        for shard_set in self.sets:
            manifest = read_index(shard_set.name, "manifest.json") if _is_folder(shard_set.name) else None
            digest = hashlib.sha256(manifest).hexdigest() if manifest is not None else None
            out.append(
                {
                    "path": shard_set.name,
                    "samples": shard_set.samples,
                    "weight": shard_set.weight,
                    "manifest_sha256": digest,
                }
            )
        return out

    def batches(self, state: StreamState) -> Iterator[Batch]:
        """Yield batches forever, updating ``state`` as the trainer takes them."""
        self.stream.start_epoch = state.epoch
        self.stream.start_batch = state.batches_in_epoch
        self.stream.batches_per_epoch = self.batches_per_epoch
        self.stream.skip_raw = dict(state.raw_consumed)
        # One loader for the whole run: its workers live across epochs (the stream itself moves them on).
        loader = DataLoader(
            self.stream,
            batch_size=None,
            num_workers=self.config.workers,
            pin_memory=torch.cuda.is_available(),
            prefetch_factor=2 if self.config.workers > 0 else None,
        )
        for item in loader:
            if isinstance(item, SchemaVersionError):
                raise item
            batch, retries = item
            if retries:
                self.remote_retries += retries
                log.warning("remote shard reads retried %d times so far (transient errors)", self.remote_retries)
            state.batches_in_epoch += 1
            state.raw_consumed[batch.stream.worker] = batch.stream.raw_consumed
            if state.batches_in_epoch == self.batches_per_epoch:
                state.epoch += 1
                state.batches_in_epoch = 0
                state.raw_consumed = {}
            yield batch
