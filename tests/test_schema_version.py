"""A shard written under a newer triplet schema_version is refused, with one line naming the shard and both
versions, by every reader of shards: the schema's decoder, the training loader (through dynaflip-train, loader
workers included), ``dynaflip-probe health`` (the probes' reader of triplet shards) and ``dynaflip-extract
visualize``. (The probe builder renders its frames from the simulator and reads no triplet shards.)"""

from __future__ import annotations

import subprocess
import tarfile

import pytest

from dynaflip.schema import SCHEMA_VERSION, SampleReader, SchemaVersionError, decode_sample
from tests.helpers.shards import write_synthetic_shards
from tests.helpers.training import REPO, environment, train_command

NEWER = SCHEMA_VERSION + 1


@pytest.fixture(scope="module")
def newer_shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("newer"), shards=2, per_shard=4, schema_version=NEWER)


def assert_refusal(line: str, shard_folder) -> None:
    assert "\n" not in line.strip()
    assert str(shard_folder / "shard-0000") in line  # the shard's path
    assert f"schema_version {NEWER}" in line and f"reads schema_version {SCHEMA_VERSION}" in line


def first_sample(shard) -> dict:
    members = {"__url__": str(shard)}
    with tarfile.open(shard) as tar:
        for info in tar.getmembers():
            key, name = info.name.split(".", 1)
            if members.setdefault("__key__", key) == key:
                members[name] = tar.extractfile(info).read()
    return members


def test_the_decoder_refuses_a_newer_schema_version(newer_shards):
    sample = first_sample(newer_shards / "shard-000000.tar")
    for read in (decode_sample, SampleReader):
        with pytest.raises(SchemaVersionError) as error:
            read(sample)
        assert_refusal(str(error.value), newer_shards)


def test_training_refuses_a_newer_schema_version(newer_shards, tmp_path):
    command = train_command(
        [
            f"data.shards=[{{path: {newer_shards}}}]",
            "data.workers=2",  # raised in the main process, not wrapped in a loader worker's traceback
            "model.grid_size=4",
            "runtime.steps=2",
            f"runtime.output_dir={tmp_path / 'run'}",
        ]
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment(), cwd=REPO)
    assert result.returncode == 2, result.stderr[-3000:]
    marker = "dynaflip-train: error: "
    # (the progress bar's carriage returns may share the error's line: cut at the message)
    errors = [line[line.index(marker) :] for line in result.stderr.splitlines() if marker in line]
    assert len(errors) == 1, result.stderr[-3000:]
    assert_refusal(errors[0], newer_shards)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()  # not one step trained on a shard it cannot read


def test_visualize_refuses_a_newer_schema_version(newer_shards, tmp_path, capsys):
    from dynaflip.extract.cli import main

    assert main(["visualize", str(newer_shards), "--out", str(tmp_path / "pictures")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("dynaflip-extract: error: ")
    assert_refusal(errors[0], newer_shards)
    assert not list((tmp_path).rglob("*.png"))


def test_current_shards_still_read(tmp_path):
    folder = write_synthetic_shards(tmp_path / "current", shards=1, per_shard=2)
    triplet = decode_sample(first_sample(folder / "shard-000000.tar"))
    assert triplet.key == "syn-00000" and triplet.grid_size == 4


def test_probe_health_refuses_a_newer_schema_version(newer_shards, tmp_path, capsys):
    from dynaflip.eval.probe_cli import main as probe_main
    from tests.helpers.probe_data import TINY_ENCODER

    out = tmp_path / "health.json"
    args = ["health", "--data", str(newer_shards), "--encoder", TINY_ENCODER, "--samples", "4", "--out", str(out)]
    assert probe_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert_refusal(err[0], newer_shards)
    assert not out.exists()
