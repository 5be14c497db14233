"""Simulated robot videos (Meta-World scripted experts) extract to shards that the schema validates and
webdataset reads back, with the simulator state at the reference frame attached."""

import json

import numpy as np
import webdataset as wds

from dynaflip.schema import decode_sample
from dynaflip.sim import QUICK_SUITE, TASKS


def test_metaworld_episodes_extract_to_valid_shards(metaworld_shards):
    manifest = json.loads((metaworld_shards / "manifest.json").read_text())
    assert manifest["complete"] and manifest["source"] == "metaworld"
    assert manifest["num_clips"] == 3 * len(QUICK_SUITE)
    sizes = json.loads((metaworld_shards / "sizes.json").read_text())
    assert sum(sizes.values()) == manifest["num_samples"] > 0
    shards = sorted(str(p) for p in metaworld_shards.glob("shard-*.tar"))
    samples = [decode_sample(s, origin=s["__url__"]) for s in wds.WebDataset(shards, shardshuffle=False)]
    assert len(samples) == manifest["num_samples"]
    assert len({t.key for t in samples}) == len(samples)
    tasks = set()
    for triplet in samples:  # decode_sample validated every field
        assert triplet.embodiment == "sim" and triplet.depth_kind == "metric" and triplet.source == "metaworld"
        task = triplet.extras["task"]
        tasks.add(task)
        assert triplet.instruction == TASKS[task].instruction
        state = triplet.extras["state"]
        assert len(state["ee_pos"]) == 3 and 0.0 <= state["gripper"] <= 1.0
        assert triplet.text_embedding.shape == (384,)
        assert triplet.points3d.shape == (5, 64, 3) and triplet.frames[0].shape == (96, 96, 3)
        z = triplet.points3d[..., 2][triplet.points3d_valid]
        assert 0.3 < np.median(z) < 3.0  # metres from the corner camera to the table
    assert tasks == set(QUICK_SUITE)
