"""The training loop end to end in real processes: exact resume, preemption by signal, config errors, and the
export round trip. DDP against DeepSpeed is in test_train_distributed.py."""

import json
import signal
import subprocess
import time

import pytest
import torch

from dynaflip.hub.format import load_encoder
from tests.helpers.shards import write_synthetic_shards
from tests.helpers.training import REPO, environment, metrics, run_training, train_command


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("train-shards"), shards=3, per_shard=8)


def common(shards, out, *extra):
    return [
        f"data.shards=[{{path: {shards}}}]",
        f"runtime.output_dir={out}",
        "data.batch_size=4",
        "model.grid_size=4",
        *extra,
    ]


def test_stopped_and_resumed_run_matches_the_uninterrupted_run(shards, tmp_path):
    n = 4  # 24 samples / batch 4 = 6 steps per epoch: the resumed half crosses an epoch boundary
    run_training(
        common(shards, tmp_path / "a", f"runtime.steps={2 * n}", "runtime.checkpoint_every=100", "data.workers=2")
    )
    args = common(shards, tmp_path / "b", f"runtime.steps={2 * n}", "runtime.checkpoint_every=100", "data.workers=2")
    run_training([*args, f"runtime.stop_after={n}"])
    assert not (tmp_path / "b" / "export").exists()  # stopped early: no export yet
    run_training([*args, "--resume", "auto"])
    a, b = metrics(tmp_path / "a"), metrics(tmp_path / "b")
    assert sorted(b) == list(range(1, 2 * n + 1))
    for step in range(n + 1, 2 * n + 1):
        for term in ("loss", "align", "tcn", "act"):
            assert b[step][term] == pytest.approx(a[step][term], rel=1e-5, abs=1e-6), f"step {step} {term}"
    assert a[2 * n]["loss"] != pytest.approx(a[1]["loss"])  # the losses do change: the comparison means something


def test_sigterm_writes_a_checkpoint_and_exits(shards, tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        train_command(common(shards, out, "runtime.steps=500", "runtime.checkpoint_every=1000", "data.workers=0")),
        env=environment(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 240
    while time.time() < deadline and not (out / "metrics.jsonl").is_file():
        time.sleep(0.5)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=240)
    assert process.returncode == 0, output[-3000:]
    checkpoints = sorted((out / "checkpoints").glob("step-*"))
    assert len(checkpoints) == 1
    step = json.loads((checkpoints[0] / "trainer_state.json").read_text())["step"]
    assert 1 <= step < 500
    assert max(metrics(out)) == step


def test_checkpoint_export_load_gives_identical_features(shards, tmp_path):
    import safetensors.torch

    out = tmp_path / "run"
    run_training(common(shards, out, "runtime.steps=2", "runtime.checkpoint_every=2", "data.workers=0"))
    encoder, preprocess, config = load_encoder(out / "export")
    checkpoint = out / "checkpoints" / "step-00000002"
    trained = safetensors.torch.load_file(str(checkpoint / "model.safetensors"))
    prefix = "image_encoder.backbone."
    for name, tensor in encoder.backbone.state_dict().items():
        torch.testing.assert_close(tensor, trained[prefix + name], rtol=0, atol=0)
    assert config["training"]["steps"] == 2 and config["training"]["data"][0]["manifest_sha256"]
    assert preprocess.size == 32
    card = (out / "export" / "README.md").read_text()
    assert "vit_tiny_patch16_224" in card and "tiny-cpu" in card


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr'"),
        ("data.batch_size=big", "'data.batch_size': expected an integer"),
    ],
)
def test_config_errors_name_the_key(override, message, tmp_path):
    result = subprocess.run(
        train_command([override]), capture_output=True, text=True, env=environment(), cwd=REPO, timeout=120
    )
    assert result.returncode == 2
    assert message in result.stderr
