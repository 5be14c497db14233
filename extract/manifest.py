"""The run's manifest: what was extracted, what was skipped and why, how long each stage took.

Rebuilt from the shard records at the end of every run (and by ``dynaflip-extract finalize``), so it is
correct however many workers or machines wrote the shards. ``sizes.json`` maps each shard to its sample
count (open_clip's convention), which is how the trainer knows the dataset size without scanning.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from dynaflip.io import atomic_write_json, atomic_write_text
from dynaflip.schema import SCHEMA_VERSION

from .shards import RECORDS_DIR, load_record

PLAN_FILE = "plan.json"
MANIFEST_FILE = "manifest.json"
SIZES_FILE = "sizes.json"
SKIPPED_FILE = "skipped.jsonl"
EXAMPLES_PER_REASON = 5


def finalize(folder: str) -> dict[str, Any]:
    """``dynaflip-extract finalize``: rebuild the indexes of a local folder or a remote prefix (remote_out.py)."""
    from dynaflip import remote_io

    if not remote_io.is_remote(folder):
        return build_manifest(Path(folder))
    from .remote_out import RemoteOutput

    output = RemoteOutput(folder)
    try:
        output.pull()
        if not (output.stage / PLAN_FILE).is_file():
            raise FileNotFoundError(f"{folder}: no {PLAN_FILE} under this prefix (expected an extraction output)")
        output.push_indexes()
        return json.loads((output.stage / MANIFEST_FILE).read_text())
    finally:
        output.close()


def build_manifest(out_dir: Path) -> dict[str, Any]:
    """Aggregate ``plan.json`` and every shard record into manifest.json, sizes.json and skipped.jsonl."""
    plan = json.loads((out_dir / PLAN_FILE).read_text())
    records = sorted(
        (load_record(path) for path in (out_dir / RECORDS_DIR).glob("shard-*.json")), key=lambda r: r.index
    )
    skipped = list(plan.get("source_skips", []))
    for record in records:
        skipped += record.skipped
    reasons = Counter(item["reason"] for item in skipped)
    examples: dict[str, list[str]] = defaultdict(list)
    for item in skipped:
        if len(examples[item["reason"]]) < EXAMPLES_PER_REASON:
            examples[item["reason"]].append(item["detail"])
    seconds: dict[str, float] = defaultdict(float)
    for record in records:
        for stage, value in record.seconds.items():
            seconds[stage] += value
    all_keys = [key for record in records for key in record.keys]
    manifest = {
        "format": "dynaflip-triplets",
        "schema_version": SCHEMA_VERSION,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": plan["source"],
        "fingerprint": plan["fingerprint"],
        "extractor": plan["extractor"],
        "config": plan["config"],
        "text_encoder": plan.get("text_encoder"),
        "complete": len(records) == plan["num_shards"],
        "num_shards": plan["num_shards"],
        "num_shards_done": len(records),
        "num_clips": plan["num_clips"],
        "num_clips_done": sum(record.clips for record in records),
        "num_samples": len(all_keys),
        "duplicate_keys": len(all_keys) - len(set(all_keys)),
        "skipped": dict(sorted(reasons.items())),
        "skipped_examples": dict(examples),
        "seconds": {stage: round(value, 3) for stage, value in sorted(seconds.items())},
        # Shards the last write of which replaced an earlier version because these clips' inputs changed.
        "reextracted": [
            {"shard": record.name, "clip_id": clip_id, "changed": changed}
            for record in records
            for clip_id, changed in sorted(record.replaced.items())
        ],
        "shards": [
            {"name": record.name, "samples": record.samples, "clips": record.clips, "bytes": record.bytes}
            for record in records
        ],
    }
    atomic_write_json(out_dir / MANIFEST_FILE, manifest)
    atomic_write_json(out_dir / SIZES_FILE, {record.name: record.samples for record in records})
    atomic_write_text(out_dir / SKIPPED_FILE, "".join(json.dumps(item) + "\n" for item in skipped))
    return manifest
