"""The triplet schema: a valid sample round-trips through a real tar shard; every malformed field is refused
with a message that names it."""

import copy
import io
import tarfile

import numpy as np
import pytest
import webdataset as wds

from dynaflip.schema import ARRAY_FIELDS, SampleReader, SchemaError, decode_sample, encode_sample, validate
from tests.helpers.triplets import make_triplet


def test_valid_triplet_round_trips_through_a_tar_shard(tmp_path):
    triplets = [make_triplet(key=f"clip-{i:03d}", seed=i) for i in range(3)]
    shard = tmp_path / "shard-000000.tar"
    with wds.TarWriter(str(shard)) as writer:
        for triplet in triplets:
            writer.write(encode_sample(triplet, image_format="png"))
    read = [decode_sample(sample, origin=str(shard)) for sample in wds.WebDataset(str(shard), shardshuffle=False)]
    assert [t.key for t in read] == [t.key for t in triplets]
    for original, back in zip(triplets, read, strict=True):
        for spec in ARRAY_FIELDS:
            np.testing.assert_array_equal(getattr(back, spec.name), getattr(original, spec.name))
            assert getattr(back, spec.name).dtype == getattr(original, spec.name).dtype
        for a, b in zip(original.frames, back.frames, strict=True):
            np.testing.assert_array_equal(a, b)  # png is lossless
        assert back.instruction == original.instruction
        assert back.extras == original.extras


def test_jpeg_frames_decode_close_to_the_original():
    triplet = make_triplet()
    triplet.frames = [np.full((32, 32, 3), 100 + 20 * i, dtype=np.uint8) for i in range(5)]
    back = decode_sample(encode_sample(triplet, image_format="jpg"))
    for a, b in zip(triplet.frames, back.frames, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


def test_member_names_have_no_dots_in_the_key(tmp_path):
    sample = encode_sample(make_triplet(key="a-b_c"))
    assert "." not in sample["__key__"]
    assert {"meta.json", "frame0.jpg", "tracks2d.npy", "points3d.npy", "intrinsics.npy"} <= set(sample)


def corrupt(field, value_fn):
    def apply(triplet):
        setattr(triplet, field, value_fn(getattr(triplet, field)))
        return triplet

    return apply


MALFORMED = {
    "__key__": corrupt("key", lambda _: "clip.0001"),
    "embodiment": corrupt("embodiment", lambda _: "alien"),
    "instruction": corrupt("instruction", lambda _: "  "),
    "depth_kind": corrupt("depth_kind", lambda _: "stereo"),
    "frames": corrupt("frames", lambda frames: frames[:4]),
    "frame2": corrupt("frames", lambda frames: [*frames[:2], frames[2].astype(np.float32), *frames[3:]]),
    "frame_indices": corrupt("frame_indices", lambda x: x[::-1].copy()),
    "timestamps": corrupt("timestamps", lambda x: x.astype(np.float32)),
    "flow_frame_indices": corrupt("flow_frame_indices", lambda x: x + 1),
    "tracks2d": corrupt("tracks2d", lambda x: x.astype(np.float64)),
    "visibility": corrupt("visibility", lambda x: x.astype(np.uint8)),
    "points3d": corrupt("points3d", lambda x: x[:, :-1]),
    "points3d_valid": corrupt("points3d_valid", lambda x: np.ones_like(x)),
    "intrinsics": corrupt("intrinsics", lambda x: -x),
    "text_embedding": corrupt("text_embedding", lambda x: np.full_like(x, np.nan)),
    "grid_size": corrupt("grid_size", lambda _: 5),
    "extractor": corrupt("extractor", lambda _: {"name": "x"}),
}


@pytest.mark.parametrize("field", list(MALFORMED))
def test_each_malformed_field_is_named(field):
    triplet = MALFORMED[field](copy.deepcopy(make_triplet()))
    with pytest.raises(SchemaError) as error:
        validate(triplet, origin="shard-000003.tar")
    message = str(error.value)
    assert "shard-000003.tar" in message and f"sample '{triplet.key}'" in message
    expected_field = "tracks2d" if field == "grid_size" else field  # a wrong G shows up as a wrong N
    assert f"field '{expected_field}'" in message
    assert "expected" in message and "got" in message
    assert "\n" not in message


def test_missing_and_corrupt_members_are_named():
    members = encode_sample(make_triplet())
    missing = {k: v for k, v in members.items() if k != "points3d.npy"}
    with pytest.raises(SchemaError, match=r"field 'points3d.npy': expected a member of the sample"):
        decode_sample(missing)
    broken = dict(members, **{"tracks2d.npy": b"not a numpy file"})
    with pytest.raises(SchemaError, match=r"field 'tracks2d.npy': expected a decodable member"):
        decode_sample(broken)
    meta_missing = dict(members, **{"meta.json": b'{"source": "x"}'})
    with pytest.raises(SchemaError, match=r"field 'video_id'"):
        decode_sample(meta_missing)


def test_the_sample_reader_decodes_what_is_asked_and_checks_it_against_the_field_table():
    """The training loader reads three frames and three arrays through the same reader as the validator:
    each array is checked against the field table and the arrays read before (K bound by the first)."""
    triplet = make_triplet(steps=3, grid_size=4)
    members = encode_sample(triplet, image_format="png")
    reader = SampleReader(members, origin="shard-x.tar")
    np.testing.assert_array_equal(reader.frame(4), triplet.frames[4])
    np.testing.assert_array_equal(reader.array("points3d"), triplet.points3d)
    assert reader.meta["grid_size"] == 4 and reader.array("text_embedding").shape == (8,)
    buffer = io.BytesIO()
    np.save(buffer, triplet.tracks2d[:2])  # two flow steps where points3d has three
    reader = SampleReader(dict(members, **{"tracks2d.npy": buffer.getvalue()}), origin="shard-x.tar")
    reader.array("points3d")
    expected = r"shard-x\.tar: sample 'sample-000': field 'tracks2d': expected float32 array of shape \(K=3, N=16, 2\)"
    with pytest.raises(SchemaError, match=expected):
        reader.array("tracks2d")
    without = {name: value for name, value in members.items() if name != "text_embedding.npy"}
    assert SampleReader(without).array("text_embedding") is None  # optional


def test_a_truncated_tar_member_is_reported_by_name(tmp_path):
    """A shard cut in the middle of a member gives a SchemaError or a tar error, never a silent bad sample."""
    shard = tmp_path / "bad.tar"
    with wds.TarWriter(str(shard)) as writer:
        writer.write(encode_sample(make_triplet()))
    data = shard.read_bytes()
    buffer = io.BytesIO(data[: len(data) // 3])
    with tarfile.open(fileobj=buffer, mode="r|*") as tar, pytest.raises((tarfile.ReadError, SchemaError, OSError)):
        members = {}
        for info in tar:
            members[info.name.split(".", 1)[1]] = tar.extractfile(info).read()
        decode_sample({"__key__": "sample-000", **members})
