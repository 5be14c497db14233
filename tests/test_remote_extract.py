"""dynaflip-extract --out s3://bucket/prefix against moto's S3 server on 127.0.0.1: a run killed mid-way and
resumed publishes exactly the keys of an uninterrupted local run, none twice, no temporary object left, the
indexes last; two array tasks write one prefix without clobbering each other."""

import json
import signal
import subprocess
import time

import pytest
import webdataset as wds

from dynaflip.schema import decode_sample
from tests.helpers.s3_server import list_keys, make_bucket, s3_environment, s3_server
from tests.helpers.training import REPO, environment
from tests.test_extract_pipeline import GT_SETTINGS, box_videos, extraction_command, keys_of  # noqa: F401

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")


def download(endpoint, prefix, folder):
    """The prefix's shards and indexes, fetched as any client would (boto3, not the code under test)."""
    import boto3

    bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_keys(s3_environment(endpoint)))
    folder.mkdir(parents=True, exist_ok=True)
    for key in list_keys(endpoint, bucket):
        if key.startswith(key_prefix + "/") and "/" not in key[len(key_prefix) + 1 :]:
            client.download_file(bucket, key, str(folder / key.rsplit("/", 1)[-1]))
    return folder


def _keys(env):
    return {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}


def shard_samples(folder):
    shards = sorted(str(p) for p in folder.glob("shard-*.tar"))
    return [decode_sample(s) for s in wds.WebDataset(shards, shardshuffle=False, empty_check=False)]


def test_extraction_to_s3_killed_and_resumed_publishes_the_same_keys(box_videos, tmp_path):  # noqa: F811
    videos, _ = box_videos
    clean = tmp_path / "clean"
    subprocess.run(extraction_command(videos, clean), check=True, env=environment(), cwd=REPO, timeout=300)
    with s3_server() as endpoint:
        make_bucket(endpoint, "dynaflip-out")
        env = dict(environment(), **s3_environment(endpoint))
        prefix = "s3://dynaflip-out/runs/box"
        process = subprocess.Popen(extraction_command(videos, prefix), env=env, cwd=REPO)
        deadline = time.time() + 240
        while time.time() < deadline and "runs/box/records/shard-000001.json" not in list_keys(
            endpoint, "dynaflip-out"
        ):
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = list_keys(endpoint, "dynaflip-out")
        records = [key for key in before if "/records/" in key]
        assert 2 <= len(records) < 4, f"the kill should land mid-run: {before}"
        assert "runs/box/sizes.json" not in before and "runs/box/manifest.json" not in before  # indexes last
        subprocess.run(extraction_command(videos, prefix), check=True, env=env, cwd=REPO, timeout=300)
        after = list_keys(endpoint, "dynaflip-out")
        local = download(endpoint, prefix, tmp_path / "fetched")
    assert [k for k in after if k.endswith(".tar")] == [f"runs/box/shard-{i:06d}.tar" for i in range(4)]
    assert not [k for k in after if "tmp" in k]
    keys = sorted(t.key for t in shard_samples(local))
    assert keys == keys_of(clean) and len(keys) == len(set(keys))
    manifest = json.loads((local / "manifest.json").read_text())
    assert manifest["complete"] and manifest["duplicate_keys"] == 0 and manifest["num_samples"] == len(keys)
    assert json.loads((local / "sizes.json").read_text()) == json.loads((clean / "sizes.json").read_text())


def test_two_array_tasks_write_one_prefix(box_videos, tmp_path):  # noqa: F811
    videos, _ = box_videos
    with s3_server() as endpoint:
        make_bucket(endpoint, "dynaflip-array")
        env = dict(environment(), **s3_environment(endpoint))
        prefix = "s3://dynaflip-array/box"
        tasks = [
            subprocess.Popen(
                [*extraction_command(videos, prefix), "--num-nodes", "2", "--node-rank", str(rank)], env=env, cwd=REPO
            )
            for rank in (0, 1)
        ]
        assert [task.wait(timeout=300) for task in tasks] == [0, 0]
        # The task that finished last saw both tasks' records; a finalize makes that certain whatever the order.
        subprocess.run(
            [*extraction_command(videos, prefix)[:3], "finalize", prefix], check=True, env=env, cwd=REPO, timeout=120
        )
        local = download(endpoint, prefix, tmp_path / "fetched")
    manifest = json.loads((local / "manifest.json").read_text())
    assert manifest["complete"] and manifest["num_samples"] == 8 and manifest["duplicate_keys"] == 0
    assert sorted(json.loads((local / "sizes.json").read_text())) == [f"shard-{i:06d}.tar" for i in range(4)]
