"""The training data pipeline: exact resume of the stream, corrupt members skipped and counted, set mixing,
and the flow's query points followed through the random crop (in the image itself and by projection)."""

import copy
import io
import json
import random
import tarfile

import numpy as np
import pytest
import torch

from dynaflip.geometry import project, query_grid
from dynaflip.train.config import DataConfig, ShardSet
from dynaflip.train.data import StreamState, TrainingData
from tests.helpers.shards import write_synthetic_shards


def data_config(folder, **overrides):
    base = dict(shards=[ShardSet(path=str(folder))], batch_size=4, workers=2, image_size=32, shuffle_buffer=10)
    base.update(overrides)
    return DataConfig(**base)


def take(data, state, count):
    iterator = data.batches(state)
    return [next(iterator) for _ in range(count)]


def same_batch(a, b):
    return torch.equal(a.frames, b.frames) and torch.equal(a.points3d, b.points3d) and a.instructions == b.instructions


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("shards"))


def test_batches_have_the_training_layout(shards):
    data = TrainingData(data_config(shards), grid_size=4, seed=0, rank=0, world_size=1)
    assert data.dataset_size == 24 and data.batches_per_epoch == 6
    batch = take(data, StreamState(), 1)[0]
    assert batch.frames.shape == (4, 3, 3, 32, 32) and batch.frames.dtype == torch.uint8
    assert batch.points3d.shape == (4, 3, 16, 3) and batch.points3d_valid.dtype == torch.bool
    assert batch.text_embedding.shape == (4, 8) and batch.text_encoder == "test-encoder"
    assert batch.text_ids.dtype == torch.int64 and len(batch.instructions) == 4
    assert batch.queries2d.shape == (4, 16, 2) and batch.stream.worker in (0, 1)


def test_resumed_stream_continues_with_the_same_batches(shards):
    """Take 9 batches (crossing an epoch boundary at 6); a stream resumed from the state after 4 (mid-epoch,
    with 2 loader workers) and after 6 must yield exactly the batches the uninterrupted stream yielded."""
    config = data_config(shards)
    reference_state = StreamState()
    data = TrainingData(config, grid_size=4, seed=7, rank=0, world_size=1)
    iterator = data.batches(reference_state)
    reference, states = [], []
    for _ in range(9):
        reference.append(next(iterator))
        states.append(copy.deepcopy(reference_state))
    for resume_after in (4, 6, 5):
        resumed = TrainingData(config, grid_size=4, seed=7, rank=0, world_size=1)
        rest = take(resumed, copy.deepcopy(states[resume_after - 1]), 9 - resume_after)
        for offset, batch in enumerate(rest):
            assert same_batch(batch, reference[resume_after + offset]), f"resume after {resume_after}: batch {offset}"


def test_ranks_and_epochs_see_different_data(shards):
    config = data_config(shards)
    rank0 = take(TrainingData(config, grid_size=4, seed=0, rank=0, world_size=2), StreamState(), 2)
    rank1 = take(TrainingData(config, grid_size=4, seed=0, rank=1, world_size=2), StreamState(), 2)
    assert not same_batch(rank0[0], rank1[0])
    epoch1 = take(TrainingData(config, grid_size=4, seed=0, rank=0, world_size=2), StreamState(epoch=1), 1)
    assert not same_batch(rank0[0], epoch1[0])


def corrupt_one_member(shard_path, member_suffix):
    """Rewrite a tar with one member's bytes replaced by garbage."""
    source = tarfile.open(shard_path)
    members = [(info, source.extractfile(info).read()) for info in source.getmembers()]
    source.close()
    with tarfile.open(shard_path, "w") as target:
        replaced = False
        for info, payload in members:
            if not replaced and info.name.endswith(member_suffix):
                payload, replaced = b"garbage" * 3, True
                info.size = len(payload)
            target.addfile(info, io.BytesIO(payload))


def test_corrupt_members_are_skipped_and_counted(tmp_path):
    folder = write_synthetic_shards(tmp_path / "bad", shards=2, per_shard=6)
    corrupt_one_member(folder / "shard-000000.tar", "points3d.npy")
    corrupt_one_member(folder / "shard-000001.tar", "frame0.jpg")
    data = TrainingData(data_config(folder, workers=0, shuffle_buffer=1), grid_size=4, seed=0, rank=0, world_size=1)
    batches = take(data, StreamState(), 12)
    assert sum(b.stream.skipped for b in batches) >= 2
    assert all(len(b) == 4 for b in batches)


def test_sets_are_mixed_by_weight(tmp_path):
    a = write_synthetic_shards(tmp_path / "a", shards=2, per_shard=4, prefix="aaa")
    b = write_synthetic_shards(tmp_path / "b", shards=4, per_shard=8, prefix="bbb")
    config = data_config(
        a, shards=[ShardSet(path=str(a), weight=3.0), ShardSet(path=str(b), weight=1.0)], workers=0, shuffle_buffer=1
    )
    data = TrainingData(config, grid_size=4, seed=0, rank=0, world_size=1)
    keys = [text for batch in take(data, StreamState(), 100) for text in batch.instructions]
    assert len(keys) == 400
    # Instructions do not reveal the set, the text ids do not either: count through clip ids instead.
    batches = take(TrainingData(config, grid_size=4, seed=0, rank=0, world_size=1), StreamState(), 100)
    from dynaflip.train.data import stable_hash

    a_ids = {stable_hash(f"unit-test/aaa-video-{i}") for i in range(8)}
    from_a = sum(int(cid) in a_ids for batch in batches for cid in batch.clip_ids)
    assert 0.65 < from_a / 400 < 0.85  # weight 3:1 per sample, whatever the shard sizes


def test_missing_sizes_json_is_explained(tmp_path):
    folder = write_synthetic_shards(tmp_path / "s", shards=1, per_shard=2)
    (folder / "sizes.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"no sizes\.json"):
        TrainingData(data_config(folder), grid_size=4, seed=0, rank=0, world_size=1)
    sizes = tmp_path / "s2"
    write_synthetic_shards(sizes, shards=1, per_shard=2)
    (sizes / "sizes.json").write_text(json.dumps({"shard-000009.tar": 3}))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TrainingData(data_config(sizes), grid_size=4, seed=0, rank=0, world_size=1)


def decode(triplet, *, seed, image_size, crop_scale=(0.6, 1.0)):
    from dynaflip.schema import encode_sample
    from dynaflip.train.data import decode_training_sample

    members = {name.split(".", 1)[1] if name.startswith(f"{triplet.key}.") else name: value
               for name, value in encode_sample(triplet, image_format="png").items()}  # fmt: skip
    config = DataConfig(image_size=image_size, crop_scale=crop_scale)
    return decode_training_sample(members, rng=random.Random(seed), config=config, grid_size=triplet.grid_size)


def cropped_intrinsics(intrinsics, crop, size):
    """The intrinsics of the augmented image, from the stored frame's and the crop box (pixel centres)."""
    top, left, height, width = crop
    out = np.asarray(intrinsics, dtype=np.float64).copy()
    sx, sy = size / width, size / height
    out[0, 0], out[0, 1], out[1, 1] = out[0, 0] * sx, out[0, 1] * sx, out[1, 1] * sy
    out[0, 2] = (out[0, 2] + 0.5 - left) * sx - 0.5
    out[1, 2] = (out[1, 2] + 0.5 - top) * sy - 0.5
    return out


def test_query_locations_follow_the_crop_in_the_image_itself():
    """A white dot drawn at one tracked point of the stored frame is found, after the crop, resize and jitter
    of the real pipeline, where queries2d says that point is (and not at its fixed grid place)."""
    from tests.helpers.triplets import make_triplet

    triplet = make_triplet(grid_size=4, size=96, steps=3)
    query = triplet.tracks2d[0]
    moved = []
    for seed in range(6):
        point = (5, 6, 9, 10)[seed % 4]  # interior points of the 4 x 4 grid: inside every crop of scale >= 0.6
        frame = np.zeros((96, 96, 3), dtype=np.uint8)
        u, v = np.round(query[point]).astype(int)
        frame[v - 1 : v + 2, u - 1 : u + 2] = 255
        triplet.tracks2d[0, point] = (u, v)  # the dot's exact centre
        triplet.frames = [frame] * 5
        out = decode(triplet, seed=seed, image_size=64)
        image = out["frames"][0].float().mean(0)
        image = torch.where(image > 0.2 * image.max(), image, torch.zeros_like(image))
        ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        found = torch.stack([(xs * image).sum(), (ys * image).sum()]) / image.sum()
        told = out["queries2d"][point]
        assert torch.linalg.vector_norm(found - told) < 0.35, (seed, found, told)
        fixed = torch.from_numpy(query_grid(grid_size=4, width=64, height=64)[point])
        moved.append(float(torch.linalg.vector_norm(found - fixed)))
    assert max(moved) > 3.0  # the crops did move the points off their fixed grid places (in 64-px pixels)


def test_tracked_points_project_onto_their_query_locations(metaworld_shards):
    """On simulated robot shards (metric depth, real tracks): the reference 3D point of every valid query
    projects, through the intrinsics of the augmented image, onto the location the actor is told."""
    from dynaflip.train.data import decode_training_sample

    config = DataConfig(image_size=80, crop_scale=(0.8, 1.0))
    errors, off_grid = [], []
    for shard in sorted(metaworld_shards.glob("shard-*.tar")):
        with tarfile.open(shard) as tar:
            samples = {}
            for member in tar.getmembers():
                key, name = member.name.split(".", 1)
                samples.setdefault(key, {"__key__": key})[name] = tar.extractfile(member).read()
        for seed, sample in enumerate(samples.values()):
            grid = json.loads(sample["meta.json"])["grid_size"]
            out = decode_training_sample(dict(sample), rng=random.Random(seed), config=config, grid_size=grid)
            intrinsics = np.load(io.BytesIO(sample["intrinsics.npy"]))
            points = np.load(io.BytesIO(sample["points3d.npy"]))[0]
            valid = np.load(io.BytesIO(sample["points3d_valid.npy"]))[0]
            seen = project(points[valid], cropped_intrinsics(intrinsics, out["crop"], 80))
            errors.append(np.linalg.norm(seen - out["queries2d"].numpy()[valid], axis=-1))
            off_grid.append(np.linalg.norm(seen - query_grid(grid_size=grid, width=80, height=80)[valid], axis=-1))
    errors, off_grid = np.concatenate(errors), np.concatenate(off_grid)
    assert len(errors) > 200 and errors.max() < 1e-3, errors.max()
    assert np.percentile(off_grid, 90) > 1.0  # where a fixed grid would have put them: pixels away
