"""Representation health during training: a fixed held-out probe set scored at step 0 and at every checkpoint,
logged to metrics.jsonl, and a warning line when the features collapse against step 0."""

import json

import numpy as np
import pytest
import torch

from dynaflip.models import ImageEncoder
from dynaflip.train.config import HealthConfig, ShardSet, TrainConfig
from dynaflip.train.health import HealthDataError, HealthMonitor, health_rows, load_probe_frames
from tests.helpers.shards import write_synthetic_shards
from tests.helpers.tiny import TINY_IMAGE
from tests.helpers.training import metrics, run_training


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("health")
    train = write_synthetic_shards(root / "train", shards=2, per_shard=8)
    heldout = write_synthetic_shards(root / "heldout", shards=2, per_shard=4, prefix="held")
    return train, heldout


def test_probe_frames_are_the_first_samples_in_shard_order(folders):
    _, heldout = folders
    probe = load_probe_frames(heldout, samples=6, image_size=24)
    again = load_probe_frames(heldout, samples=6, image_size=24)
    frames_per_sample = 5  # frame0..frame4 of each stored sample
    assert probe.frames.shape == (6 * frames_per_sample, 3, 24, 24) and probe.frames.dtype == torch.uint8
    assert torch.equal(probe.frames, again.frames)
    assert probe.episode_ids.tolist() == np.repeat(np.arange(6), frames_per_sample).tolist()
    assert probe.order.tolist() == list(range(frames_per_sample)) * 6
    with pytest.raises(HealthDataError, match=r"has no sizes\.json"):
        load_probe_frames(heldout / "nothing", samples=6, image_size=24)


def test_training_logs_health_at_step_zero_and_every_checkpoint(folders, tmp_path):
    train, heldout = folders
    out = tmp_path / "run"
    run_training(
        [
            f"data.shards=[{{path: {train}}}]",
            f"runtime.output_dir={out}",
            "data.batch_size=4",
            "model.grid_size=4",
            "runtime.steps=4",
            "runtime.checkpoint_every=2",
            f"health.shards={heldout}",
            "health.samples=6",
        ]
    )
    rows = health_rows(out)
    assert [row["step"] for row in rows] == [0, 2, 4]
    for row in rows:
        assert row["health_frames"] == 30 and row["health_width"] == 96  # [CLS ; mean patch] of a 48-d ViT
        assert 1.0 <= row["health_effective_rank"] <= 30 and 0 < row["health_pc1_share"] <= 1
        assert 0 < row["health_consecutive_ratio"] < 2
    by_step = metrics(out)  # the last row of each step: the health row keeps that step's training values
    assert "loss" in by_step[2] and "health_effective_rank" in by_step[2] and "loss" in by_step[4]


def test_health_shards_must_be_held_out(folders, tmp_path):
    train, _ = folders
    config = TrainConfig(health=HealthConfig(shards=str(train)))
    config.data.shards = [ShardSet(path=str(train))]
    with pytest.raises(HealthDataError, match=r"also in data\.shards"):
        HealthMonitor(config, ImageEncoder(TINY_IMAGE), run_dir=tmp_path)


def test_a_collapsed_encoder_gets_a_warning_line(folders, tmp_path, capsys):
    _, heldout = folders
    torch.manual_seed(0)
    encoder = ImageEncoder(TINY_IMAGE)
    config = TrainConfig(health=HealthConfig(shards=str(heldout), samples=8))
    config.data.image_size = 32
    monitor = HealthMonitor(config, encoder, run_dir=tmp_path, step=0)
    assert monitor.initial is not None and monitor.initial.effective_rank > 5
    assert monitor.after_step(3) is None  # not due: every = runtime.checkpoint_every
    with torch.no_grad():  # every feature through one direction: the final norm passes a single channel
        encoder.backbone.norm.weight.zero_()
        encoder.backbone.norm.weight[0] = 1.0
        encoder.backbone.norm.bias.zero_()
    collapsed = monitor.after_step(5, last=True)
    assert collapsed.effective_rank < 2.5 and collapsed.pc1_share > 0.5
    assert "WARNING representation collapse at step 5" in capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["health_collapsed"] for row in rows] == [False, True]
    # A resumed run reads step 0's health back instead of measuring it again.
    resumed = HealthMonitor(config, encoder, run_dir=tmp_path, step=5)
    assert resumed.initial.effective_rank == pytest.approx(monitor.initial.effective_rank)
