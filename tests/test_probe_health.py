"""`dynaflip-probe health`: the three health numbers of any encoder, on an extraction folder or a probe dataset,
equal to dynaflip.health on the encoder's own features."""

import json

import numpy as np
import pytest

from dynaflip.eval.encoders import load_eval_encoder
from dynaflip.eval.probe_cli import main
from dynaflip.health import health_metrics
from dynaflip.health_frames import read_shard_frames
from tests.helpers.probe_data import TINY_ENCODER, tiny_probe_dataset
from tests.helpers.shards import write_synthetic_shards


def test_health_on_an_extraction_folder(tmp_path, capsys):
    shards = write_synthetic_shards(tmp_path / "shards", shards=2, per_shard=4)
    out = tmp_path / "health.json"
    assert main(["health", "--data", str(shards), "--encoder", TINY_ENCODER, "--samples", "6", "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{TINY_ENCODER}: effective rank") and "(30 frames)" in line
    row = json.loads(out.read_text())["encoders"][0]
    frames = read_shard_frames(shards, samples=6)
    features = load_eval_encoder(TINY_ENCODER).features(frames.images)
    expected = health_metrics(features, episode_ids=frames.episode_ids, order=frames.order)
    assert row["encoder"] == TINY_ENCODER and row["frames"] == 30
    assert row["effective_rank"] == pytest.approx(expected.effective_rank, rel=1e-6)
    assert row["pc1_share"] == pytest.approx(expected.pc1_share, rel=1e-6)
    assert row["consecutive_ratio"] == pytest.approx(expected.consecutive_ratio, rel=1e-6)


def test_health_on_a_probe_dataset_split(tmp_path_factory, tmp_path, capsys):
    data = tiny_probe_dataset(tmp_path_factory)
    out = tmp_path / "health.json"
    assert main(["health", "--data", str(data), "--encoder", TINY_ENCODER, "--split", "train", "--out", str(out)]) == 0
    row = json.loads(out.read_text())["encoders"][0]
    assert row["frames"] == 2 * 2 * 3  # 2 tasks x 2 training episodes x 3 frames
    assert np.isfinite(row["effective_rank"]) and 0 < row["consecutive_ratio"] < 3


def test_bad_data_is_a_one_line_error(tmp_path, capsys):
    assert main(["health", "--data", str(tmp_path), "--encoder", TINY_ENCODER]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("dynaflip-probe: error: --data:") and "\n" not in error
