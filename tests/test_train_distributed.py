"""dynaflip-train across real processes (torchrun, gloo on 127.0.0.1): the learning-rate schedule is the same
for 1 and 2 processes, and DeepSpeed really runs on the CPU: ZeRO-1 and ZeRO-2 engines are constructed
(the startup line and the checkpoint say which, read from the live engine), checkpoints have DeepSpeed's
layout, a stopped ZeRO-2 run resumes exactly, the first steps match DDP within float tolerance, the export
equals the DDP path's, and a bf16 engine trains a step.

What is not exercised here: NCCL and GPU kernels (bf16 on the CPU runs DeepSpeed's CPU accelerator), and
ZeRO-3 (refused by the trainer). The GPU check is ``bench/train.py --deepspeed`` on a machine with GPUs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors.torch
import torch

from dynaflip.hub.format import load_encoder
from dynaflip.train.config import OptimConfig
from dynaflip.train.schedule import learning_rate
from tests.helpers.shards import write_synthetic_shards
from tests.helpers.training import metrics, run_training

pytestmark = pytest.mark.slow

STEPS, WARMUP = 6, 3
ZERO = {1: "configs/deepspeed/zero1.json", 2: "configs/deepspeed/zero2.json"}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("shards"), shards=3, per_shard=8)


@pytest.fixture(scope="module")
def runs(shards, tmp_path_factory):
    """Every run the tests compare, trained once: {name: (run folder, stdout)}."""
    root = tmp_path_factory.mktemp("runs")
    base = [
        f"data.shards=[{{path: {shards}}}]",
        "data.batch_size=4",
        "data.workers=0",
        "model.grid_size=4",
        f"runtime.steps={STEPS}",
        f"optim.warmup_steps={WARMUP}",
        "runtime.checkpoint_every=3",
    ]
    plans = {
        "ddp1": ([], 1),
        "ddp2": ([], 2),
        "zero1": ([f"runtime.deepspeed_config={ZERO[1]}", "runtime.export_at_end=false"], 2),
        "zero2": ([f"runtime.deepspeed_config={ZERO[2]}"], 2),
        "zero2-resumed": ([f"runtime.deepspeed_config={ZERO[2]}", "runtime.stop_after=3"], 2),
        "bf16": (
            [
                f"runtime.deepspeed_config={ZERO[1]}",
                "runtime.precision=bf16",
                "runtime.steps=2",
                "runtime.export_at_end=true",
            ],
            1,  # one process started without torchrun: the trainer makes the process group itself
        ),
    }
    out = {}
    for name, (extra, processes) in plans.items():
        folder = root / name
        result = run_training([*base, f"runtime.output_dir={folder}", *extra], processes=processes, timeout=600)
        out[name] = (folder, result.stdout)
    folder = out["zero2-resumed"][0]
    resumed = run_training(
        [*base, f"runtime.output_dir={folder}", f"runtime.deepspeed_config={ZERO[2]}", "--resume", "auto"],
        processes=2,
        timeout=600,
    )
    out["zero2-resumed"] = (folder, out["zero2-resumed"][1] + resumed.stdout + resumed.stderr)
    return out


def startup_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("dynaflip-train: world size"))


def test_learning_rate_follows_the_schedule_whatever_the_world_size(runs):
    want = [learning_rate(step, optim=OptimConfig(lr=3e-4, warmup_steps=WARMUP), total=STEPS) for step in range(STEPS)]
    for name in ("ddp1", "ddp2", "zero1", "zero2"):
        got = [metrics(runs[name][0])[step]["lr"] for step in range(1, STEPS + 1)]
        assert got == pytest.approx(want, rel=1e-12), name
    assert want[WARMUP - 1] == pytest.approx(3e-4) and want[-1] < want[WARMUP]  # warmup, then decay


@pytest.mark.parametrize("stage", [1, 2])
def test_zero_engine_is_real_and_matches_ddp(runs, stage):
    folder, stdout = runs[f"zero{stage}"]
    line = startup_line(stdout)
    assert f"world size 2 (gloo), DeepSpeed ZeRO-{stage}, precision fp32" in line, line
    assert "global batch 8; 7 negatives per anchor" in line, line
    checkpoint = folder / "checkpoints" / f"step-{STEPS:08d}"
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["distributed"] == f"DeepSpeed ZeRO-{stage}" and state["world_size"] == 2
    # DeepSpeed's own layout (accelerate's model.safetensors / optimizer.bin are absent), with the stage it ran.
    shards = checkpoint / "pytorch_model"
    assert {p.name for p in shards.iterdir()} == {
        "mp_rank_00_model_states.pt",
        "zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "zero_pp_rank_1_mp_rank_00_optim_states.pt",
    }
    assert not (checkpoint / "model.safetensors").exists() and not (checkpoint / "optimizer.bin").exists()
    optimizer = torch.load(shards / "zero_pp_rank_1_mp_rank_00_optim_states.pt", weights_only=False)
    assert int(optimizer["optimizer_state_dict"]["zero_stage"]) == stage
    assert optimizer["optimizer_state_dict"]["partition_count"] == [2, 2]  # two parameter groups, 2 ranks each

    ddp, zero = metrics(runs["ddp2"][0]), metrics(folder)
    assert zero[1]["loss"] == pytest.approx(ddp[1]["loss"], rel=1e-6)
    for step in range(2, STEPS + 1):
        for term in ("loss", "align", "tcn", "act"):
            assert zero[step][term] == pytest.approx(ddp[step][term], rel=1e-4, abs=1e-6), (step, term)
    assert ddp[STEPS]["loss"] != pytest.approx(ddp[1]["loss"], rel=1e-3)  # training moved: the match means something


def test_stopped_zero2_run_resumes_exactly(runs):
    folder, output = runs["zero2-resumed"]
    assert f"resumed from {folder / 'checkpoints' / 'step-00000003'}" in output
    uninterrupted, resumed = metrics(runs["zero2"][0]), metrics(folder)
    assert sorted(resumed) == list(range(1, STEPS + 1))
    for step in range(4, STEPS + 1):
        for term in ("loss", "align", "tcn", "act"):
            assert resumed[step][term] == pytest.approx(uninterrupted[step][term], rel=1e-6, abs=1e-7), (step, term)


def test_zero2_export_is_the_engine_weights_and_matches_ddp(runs):
    zero_folder, ddp_folder = runs["zero2"][0], runs["ddp2"][0]
    exported = safetensors.torch.load_file(str(zero_folder / "export" / "model.safetensors"))
    module = torch.load(
        zero_folder / "checkpoints" / f"step-{STEPS:08d}" / "pytorch_model" / "mp_rank_00_model_states.pt",
        weights_only=False,
    )["module"]
    prefix = "image_encoder.backbone."
    engine = {name[len(prefix) :]: tensor for name, tensor in module.items() if name.startswith(prefix)}
    assert set(exported) == set(engine)
    for name, tensor in engine.items():
        torch.testing.assert_close(exported[name], tensor, rtol=0, atol=0, msg=name)
    from_ddp = safetensors.torch.load_file(str(ddp_folder / "export" / "model.safetensors"))
    assert {k: (v.dtype, v.shape) for k, v in from_ddp.items()} == {k: (v.dtype, v.shape) for k, v in exported.items()}
    # atol 1e-5: attention key biases have no true gradient (softmax ignores them), so Adam turns the two
    # paths' round-off into updates of ~1e-6; every other weight agrees to ~1e-7.
    for name, tensor in from_ddp.items():
        torch.testing.assert_close(exported[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        features = [load_encoder(folder / "export")[0](images) for folder in (zero_folder, ddp_folder)]
    torch.testing.assert_close(features[0], features[1], rtol=1e-4, atol=1e-5)
    zero_config = json.loads((zero_folder / "export" / "config.json").read_text())
    ddp_config = json.loads((ddp_folder / "export" / "config.json").read_text())
    assert zero_config.keys() == ddp_config.keys()
    for key in ("format", "format_version", "image_encoder", "preprocess", "feature", "output_dim"):
        assert zero_config[key] == ddp_config[key], key
    assert zero_config["training"]["steps"] == ddp_config["training"]["steps"] == STEPS


def test_bf16_engine_trains_with_float32_losses_and_exports_master_weights(runs):
    folder, stdout = runs["bf16"]
    line = startup_line(stdout)
    assert "world size 1 (gloo), DeepSpeed ZeRO-1, precision bf16 (DeepSpeed engine: torch.bfloat16 parameters" in line
    rows = metrics(folder)
    assert sorted(rows) == [1, 2]
    assert all(np.isfinite(rows[step][term]) for step in rows for term in ("loss", "align", "tcn", "act"))
    assert rows[1]["logit_scale"] == pytest.approx(1 / 0.07, rel=1e-6)  # the temperature was not rounded to bf16
    # Same first batch as the fp32 single-process run: the losses agree to bf16's precision.
    assert rows[1]["loss"] == pytest.approx(metrics(runs["ddp1"][0])[1]["loss"], rel=3e-2)
    checkpoint = folder / "checkpoints" / "step-00000002" / "pytorch_model"
    assert (checkpoint / "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt").is_file()
    weights = safetensors.torch.load_file(str(folder / "export" / "model.safetensors"))
    trained = torch.cat([tensor.flatten() for tensor in weights.values()])
    assert trained.dtype == torch.float32
    # fp32 master weights, not the engine's bf16 copies: most values are not representable in bf16.
    assert (trained.bfloat16().float() != trained).float().mean() > 0.5
