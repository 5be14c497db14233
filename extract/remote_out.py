"""Extraction into a remote prefix (``--out s3://bucket/prefix``, ``gs://``, any writable fsspec URL).

The run works in a local staging folder exactly as it does for a local ``--out``, and publishes in the order
that makes a killed run resumable and several array tasks safe on one prefix:

1. at start, ``plan.json`` and every ``records/*.json`` are pulled from the prefix (what any task finished);
2. a shard is written locally under a temporary name, renamed, then uploaded to its final key in one put (an
   object store shows an object whole or not at all), and only then its record is uploaded: a shard counts
   as done when its record is there, so a kill between the two redoes that shard, under the same key;
3. at the end the records are pulled again (the other tasks' too), and ``manifest.json``, ``skipped.jsonl``
   and ``sizes.json`` are rebuilt from them and uploaded last.

Each task writes only the shards it owns (``index % num_nodes``) and their records, so tasks never write
the same key, except the plan (identical bytes for the same plan) and the rebuilt indexes (the last one wins
and holds everything written so far, as locally).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from dynaflip import remote_io

from .shards import RECORDS_DIR

PLAN_FILE = "plan.json"
INDEX_FILES = ("manifest.json", "skipped.jsonl", "sizes.json")  # sizes.json last: trainers look for it


class RemoteOutput:
    """A remote ``--out`` and the local staging folder the run works in."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.stage = Path(tempfile.mkdtemp(prefix="dynaflip-extract-stage-"))

    def key(self, name: str) -> str:
        return remote_io.join(self.url, name)

    def names(self) -> set[str]:
        """Object names directly under the prefix (shards and indexes)."""
        return set(remote_io.list_names(self.url))

    def pull(self) -> None:
        """The plan and every finished shard's record, into the staging folder."""
        (self.stage / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
        if PLAN_FILE in self.names():
            (self.stage / PLAN_FILE).write_bytes(remote_io.read_bytes(self.key(PLAN_FILE)))
        for name in remote_io.list_names(self.key(RECORDS_DIR)):
            if name.endswith(".json"):
                data = remote_io.read_bytes(self.key(f"{RECORDS_DIR}/{name}"))
                (self.stage / RECORDS_DIR / name).write_bytes(data)

    def push_plan(self) -> None:
        remote_io.upload(str(self.stage / PLAN_FILE), self.key(PLAN_FILE))

    def clear(self) -> None:
        """--overwrite: remove the prefix's shards, records and indexes (nothing else under it)."""
        fs, _ = remote_io.filesystem(self.url)
        doomed = [self.key(n) for n in self.names() if n.startswith("shard-") or n in (*INDEX_FILES, PLAN_FILE)]
        doomed += [self.key(f"{RECORDS_DIR}/{n}") for n in remote_io.list_names(self.key(RECORDS_DIR))]
        for url in doomed:
            _, path = remote_io.filesystem(url)
            fs.rm_file(path)
        shutil.rmtree(self.stage / RECORDS_DIR, ignore_errors=True)
        (self.stage / PLAN_FILE).unlink(missing_ok=True)

    def push_indexes(self) -> None:
        self.pull()  # records only: the plan is the same, and other tasks' records count too
        from .manifest import build_manifest

        build_manifest(self.stage)
        for name in INDEX_FILES:
            remote_io.upload(str(self.stage / name), self.key(name))

    def close(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)


def publish_shard(url: str, shard: Path) -> None:
    """Upload a finished local shard to its final key and drop the local copy (the disk holds one at a time)."""
    remote_io.upload(str(shard), remote_io.join(url, shard.name))
    shard.unlink()


def publish_record(url: str, record: Path) -> None:
    """Upload a shard's record after its shard: from now on the shard is done."""
    remote_io.upload(str(record), remote_io.join(url, f"{RECORDS_DIR}/{record.name}"))
