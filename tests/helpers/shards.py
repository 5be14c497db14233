"""Small triplet shard folders (with sizes.json and manifest.json, as the extractor writes them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import webdataset as wds

from dynaflip.schema import encode_sample
from tests.helpers.triplets import make_triplet

INSTRUCTIONS = ["reach the goal", "push the button", "open the drawer"]


def write_synthetic_shards(
    folder: Path,
    *,
    shards: int = 3,
    per_shard: int = 8,
    grid_size: int = 4,
    steps: int = 3,
    size: int = 32,
    prefix: str = "syn",
    schema_version: int | None = None,
) -> Path:
    """``shards`` tar shards of ``per_shard`` valid triplets; ``schema_version``: written into every sample's
    meta.json instead of the current one (a shard from another version of the schema)."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for shard in range(shards):
        name = f"shard-{shard:06d}.tar"
        with wds.TarWriter(str(folder / name)) as writer:
            for index in range(per_shard):
                number = shard * per_shard + index
                triplet = make_triplet(
                    key=f"{prefix}-{number:05d}", grid_size=grid_size, steps=steps, size=size, seed=number
                )
                triplet.video_id = f"{prefix}-video-{number // 2}"
                triplet.instruction = INSTRUCTIONS[number % len(INSTRUCTIONS)]
                triplet.text_embedding = np.random.default_rng(number % 3).normal(size=8).astype(np.float32)
                sample = encode_sample(triplet)
                if schema_version is not None:
                    meta = json.loads(sample["meta.json"])
                    sample["meta.json"] = json.dumps({**meta, "schema_version": schema_version}).encode()
                writer.write(sample)
        sizes[name] = per_shard
    (folder / "sizes.json").write_text(json.dumps(sizes))
    (folder / "manifest.json").write_text(json.dumps({"complete": True, "num_samples": shards * per_shard}))
    return folder
