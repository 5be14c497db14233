"""The training data pipeline: exact resume of the stream, corrupt members skipped and counted, set mixing."""

import copy
import io
import json
import tarfile

import pytest
import torch

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
    return (
        torch.equal(a["frames"], b["frames"])
        and torch.equal(a["points3d"], b["points3d"])
        and a["instructions"] == b["instructions"]
    )


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("shards"))


def test_batches_have_the_training_layout(shards):
    data = TrainingData(data_config(shards), grid_size=4, seed=0, rank=0, world_size=1)
    assert data.dataset_size == 24 and data.batches_per_epoch == 6
    batch = take(data, StreamState(), 1)[0]
    assert batch["frames"].shape == (4, 3, 3, 32, 32) and batch["frames"].dtype == torch.uint8
    assert batch["points3d"].shape == (4, 3, 16, 3) and batch["points3d_valid"].dtype == torch.bool
    assert batch["text_embedding"].shape == (4, 8) and batch["text_encoder"] == "test-encoder"
    assert batch["text_ids"].dtype == torch.int64 and len(batch["instructions"]) == 4


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
    assert sum(int(b["skipped"]) for b in batches) >= 2
    assert all(b["frames"].shape[0] == 4 for b in batches)


def test_sets_are_mixed_by_weight(tmp_path):
    a = write_synthetic_shards(tmp_path / "a", shards=2, per_shard=4, prefix="aaa")
    b = write_synthetic_shards(tmp_path / "b", shards=4, per_shard=8, prefix="bbb")
    config = data_config(
        a, shards=[ShardSet(path=str(a), weight=3.0), ShardSet(path=str(b), weight=1.0)], workers=0, shuffle_buffer=1
    )
    data = TrainingData(config, grid_size=4, seed=0, rank=0, world_size=1)
    keys = [text for batch in take(data, StreamState(), 100) for text in batch["instructions"]]
    assert len(keys) == 400
    # Instructions do not reveal the set, the text ids do not either: count through clip ids instead.
    batches = take(TrainingData(config, grid_size=4, seed=0, rank=0, world_size=1), StreamState(), 100)
    from dynaflip.train.data import stable_hash

    a_ids = {stable_hash(f"unit-test/aaa-video-{i}") for i in range(8)}
    from_a = sum(int(cid) in a_ids for batch in batches for cid in batch["clip_ids"])
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
