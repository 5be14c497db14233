"""Shards on object storage and HTTP, against real servers on 127.0.0.1 started here: moto's S3 server and a
plain http.server (one that drops every third request and answers 503 to some). Training from remote shards
gives the losses it gives from the same shards on disk, resumes exactly, survives the flaky server (counting
its retries), and refused credentials stop it at start in one line."""

import json
import os
import subprocess

import pytest

from tests.helpers.flaky_http import Misbehaviour, http_server
from tests.helpers.s3_server import enforce_credentials, make_bucket, s3_environment, s3_server, upload_folder
from tests.helpers.shards import write_synthetic_shards
from tests.helpers.training import REPO, environment, metrics, run_training, train_command

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

STEPS = 4
TERMS = ("loss", "align", "tcn", "act")


def common(shards, out, *extra):
    return [
        f"data.shards=[{{path: '{shards}'}}]",
        f"runtime.output_dir={out}",
        "data.batch_size=4",
        "data.workers=1",
        "model.grid_size=4",
        f"runtime.steps={STEPS}",
        "runtime.checkpoint_every=100",
        *extra,
    ]


def train(args, env=None, **kwargs):
    if env is None:
        return run_training(args, **kwargs)
    saved = dict(os.environ)
    os.environ.update(env)  # run_training builds the child's environment from this process's
    try:
        return run_training(args, **kwargs)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def same_losses(a, b, steps):
    for step in steps:
        for term in TERMS:
            assert b[step][term] == pytest.approx(a[step][term], rel=1e-5, abs=1e-6), f"step {step} {term}"


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("remote-shards") / "syn", shards=3, per_shard=8)


@pytest.fixture(scope="module")
def local_run(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("local-run")
    run_training(common(shards, out))
    rows = metrics(out)
    assert rows[STEPS]["loss"] != pytest.approx(rows[1]["loss"])  # the comparison means something
    return rows


def test_training_from_s3_matches_local_and_resumes(shards, local_run, tmp_path):
    with s3_server() as endpoint:
        make_bucket(endpoint, "dynaflip-data")
        upload_folder(endpoint, shards, "s3://dynaflip-data/sets/syn")
        env = s3_environment(endpoint)
        args = common("s3://dynaflip-data/sets/syn", tmp_path / "run")
        train([*args, f"runtime.stop_after={STEPS // 2}"], env=env)
        train([*args, "--resume", "auto"], env=env)
    remote = metrics(tmp_path / "run")
    assert sorted(remote) == list(range(1, STEPS + 1))
    same_losses(local_run, remote, range(1, STEPS + 1))
    assert all(row["remote_retries"] == 0 for row in remote.values())


def test_training_through_a_flaky_http_server_finishes_with_the_same_losses(shards, local_run, tmp_path):
    misbehaviour = Misbehaviour(drop_every=3, fail_every=5)
    with http_server(shards.parent, misbehaviour) as (url, counts):
        train(common(f"{url}/syn", tmp_path / "run"))
    remote = metrics(tmp_path / "run")
    same_losses(local_run, remote, range(1, STEPS + 1))
    assert counts.dropped > 0 and counts.failed > 0
    assert remote[STEPS]["remote_retries"] > 0  # counted in the worker, reported with the batches


def test_refused_credentials_stop_training_at_start_in_one_line(shards, tmp_path):
    with s3_server() as endpoint:
        make_bucket(endpoint, "dynaflip-locked")
        upload_folder(endpoint, shards, "s3://dynaflip-locked/syn")
        enforce_credentials(endpoint)
        try:
            env = dict(environment(), **s3_environment(endpoint, access_key="AKIAWRONG", secret_key="wrong"))
            result = subprocess.run(
                train_command(common("s3://dynaflip-locked/syn", tmp_path / "run")),
                capture_output=True,
                text=True,
                timeout=300,
                env=env,
                cwd=REPO,
            )
        finally:
            enforce_credentials(endpoint, allow=True)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "access refused" in errors[0] and "s3://dynaflip-locked/syn" in errors[0], errors
    assert "wrong" not in result.stderr  # no credential in the message
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # before any step


def test_a_shard_that_keeps_failing_is_skipped_and_counted(shards, tmp_path):
    """A shard the server no longer has (404 on every try) is skipped like a corrupt one; the run goes on."""
    from dynaflip.train.config import DataConfig, ShardSet
    from dynaflip.train.data import StreamState, TrainingData

    folder = tmp_path / "served" / "syn"
    folder.mkdir(parents=True)
    for path in shards.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "shard-000001.tar").unlink()
    with http_server(folder.parent) as (url, _):
        config = DataConfig(
            shards=[ShardSet(path=f"{url}/syn")], batch_size=4, workers=0, image_size=32, shuffle_buffer=1
        )
        data = TrainingData(config, grid_size=4, seed=0, rank=0, world_size=1)
        iterator = data.batches(StreamState())
        batches = [next(iterator) for _ in range(8)]
    assert sum(batch.stream.skipped for batch in batches) >= 1
    assert all(len(batch) == 4 for batch in batches)
    assert json.loads((shards / "sizes.json").read_text())["shard-000001.tar"] == 8


def test_visualize_reads_an_http_prefix(shards, tmp_path):
    from dynaflip.extract.cli import main

    with http_server(shards.parent, Misbehaviour(drop_every=3)) as (url, counts):
        assert main(["visualize", f"{url}/syn", "--out", str(tmp_path / "png"), "--count", "3"]) == 0
    assert len(list((tmp_path / "png").glob("*.png"))) == 3 and counts.dropped > 0


def test_health_frames_read_from_an_http_prefix_equal_the_local_ones(shards):
    import numpy as np

    from dynaflip.health_frames import is_shard_folder, read_shard_frames

    local = read_shard_frames(shards, samples=5)
    with http_server(shards.parent, Misbehaviour(drop_every=3, fail_every=5)) as (url, _):
        assert is_shard_folder(f"{url}/syn")
        remote = read_shard_frames(f"{url}/syn", samples=5)
    np.testing.assert_array_equal(remote.images, local.images)
    np.testing.assert_array_equal(remote.episode_ids, local.episode_ids)
