"""Two gloo processes train a tiny model on shards that dynaflip-extract made from simulated robot videos:
the loss is finite and falls on a set small enough to overfit."""

import json

import numpy as np

from tests.helpers.training import metrics, run_training


def test_two_processes_overfit_simulated_shards(metaworld_shards, tmp_path):
    out = tmp_path / "run"
    run_training(
        [
            f"data.shards=[{{path: {metaworld_shards}}}]",
            f"runtime.output_dir={out}",
            "model.grid_size=8",
            "data.batch_size=4",
            "data.workers=1",
            "data.crop_scale=[1.0, 1.0]",
            "optim.lr=1e-3",
            "optim.warmup_steps=5",
            "runtime.steps=40",
            "runtime.checkpoint_every=40",
        ],
        processes=2,
        timeout=600,
    )
    rows = metrics(out)
    losses = np.array([rows[step]["loss"] for step in sorted(rows)])
    assert len(losses) == 40 and np.isfinite(losses).all()
    assert losses[-8:].mean() < 0.8 * losses[:8].mean(), losses
    state = json.loads(next((out / "checkpoints").glob("step-*/trainer_state.json")).read_text())
    assert state["world_size"] == 2 and state["counters"]["samples"] == 40 * 8
    assert (out / "export" / "model.safetensors").is_file()
