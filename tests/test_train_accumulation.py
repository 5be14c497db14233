"""Gradient accumulation keeps the whole accumulated batch as contrastive negatives (cached outputs, as
GradCache does): k micro-batches give the parameter update of one pass over the full batch, in one process
and across two (DDP over gloo), same-clip masks across micro-batches included; and dynaflip-train with
``data.global_batch_size=8`` and 2 accumulation steps trains like batch 8 in one step."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dynaflip.models import DynaFLIP
from dynaflip.objective import DynaFLIPLoss, ObjectiveConfig
from dynaflip.step import forward_and_loss
from dynaflip.synthetic import synthetic_batch
from tests.helpers.distributed import run_distributed
from tests.helpers.shards import write_synthetic_shards
from tests.helpers.tiny import tiny_model_config
from tests.helpers.training import metrics, run_training

GLOBAL_BATCH = 8
# Repeated clips, some across micro-batch and rank boundaries: their columns must be masked in the full batch.
CLIP_IDS = torch.tensor([0, 1, 2, 0, 3, 1, 4, 3])


def make(objective_name: str):
    torch.manual_seed(0)
    objective = ObjectiveConfig(learnable_temperature=objective_name == "learnable_temperature")
    model = DynaFLIP(tiny_model_config(), objective, text_dim=24).double()
    batch = synthetic_batch(
        GLOBAL_BATCH, image_size=32, grid_size=4, flow_steps=3, text_dim=24, num_instructions=3, seed=5
    )
    batch = dataclasses.replace(batch.to(dtype=torch.float64), clip_ids=CLIP_IDS.clone())
    return model, DynaFLIPLoss(objective), batch


def full_batch_reference(objective_name: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model, loss_fn, batch = make(objective_name)
    result = forward_and_loss(model, loss_fn, batch)
    result.total.backward()
    return result.total.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


def accumulating_worker(rank, world_size, objective_name, accumulation, out_path):
    from accelerate import Accelerator

    from dynaflip.train.backend import prepare
    from dynaflip.train.step import TrainStep

    accelerator = Accelerator(cpu=True)
    model, loss_fn, batch = make(objective_name)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    backend = prepare(accelerator, model, torch.optim.SGD(model.parameters(), lr=1.0), grad_clip=0.0)
    assert backend.name == ("DDP" if world_size > 1 else "single process")
    local = GLOBAL_BATCH // world_size
    micro_batches = batch.rows(rank * local, (rank + 1) * local).split(accumulation)
    result = TrainStep(backend=backend, loss_fn=loss_fn)(micro_batches)
    loss = result.total.detach().clone()
    torch.distributed.all_reduce(loss)
    if rank == 0:
        update = {name: before[name] - p.detach() for name, p in model.named_parameters()}  # SGD, lr 1: the gradient
        torch.save(
            {"loss": loss / world_size, "update": update, "masked": result.metrics["masked_same_clip"]}, out_path
        )


# Two processes with the learnable temperature: the cached path must also hand DDP the temperature's gradient
# (a parameter without one would leave its whole gradient bucket un-reduced).
@pytest.mark.parametrize(("world_size", "objective_name"), [(1, "full"), (2, "learnable_temperature")])
def test_accumulated_micro_batches_update_like_one_full_batch(tmp_path, world_size, objective_name):
    want_loss, want_gradients = full_batch_reference(objective_name)
    out_path = tmp_path / "rank0.pt"
    run_distributed(accumulating_worker, objective_name, 2, str(out_path), world_size=world_size)
    got = torch.load(out_path)
    torch.testing.assert_close(got["loss"], want_loss, rtol=1e-9, atol=1e-12)
    assert set(got["update"]) == set(want_gradients)
    for name, gradient in want_gradients.items():
        torch.testing.assert_close(got["update"][name], gradient, rtol=1e-7, atol=1e-10, msg=f"gradient of {name}")
    # Rank 0's rows see the full batch: row 0 (clip 0) masks row 3, row 1 (clip 1) masks row 5 on another
    # micro-batch or rank, rows 2 and 3 of rank 0 in the one-process case add clip 2 (none) and clip 0 (row 0).
    local_rows = CLIP_IDS[: GLOBAL_BATCH // world_size]
    expected = ((local_rows[:, None] == CLIP_IDS[None]).sum(1) - 1).double().mean()
    assert float(got["masked"]) == pytest.approx(float(expected)) and float(expected) > 0


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("shards"), shards=3, per_shard=8)


def test_trainer_with_accumulation_matches_the_full_batch(shards, tmp_path):
    base = [f"data.shards=[{{path: {shards}}}]", "data.workers=0", "model.grid_size=4", "runtime.steps=4"]
    full = run_training([*base, f"runtime.output_dir={tmp_path / 'full'}", "data.batch_size=8"])
    accumulated = run_training(
        [
            *base,
            f"runtime.output_dir={tmp_path / 'accumulated'}",
            "data.global_batch_size=8",
            "optim.accumulation_steps=2",
        ]
    )
    assert "batch 4 per process x 1 process x 2 accumulation = global batch 8; 7 negatives per anchor" in (
        accumulated.stdout
    )
    assert "batch 8 per process x 1 process x 1 accumulation = global batch 8" in full.stdout
    a, b = metrics(tmp_path / "full"), metrics(tmp_path / "accumulated")
    assert b[1]["loss"] == pytest.approx(a[1]["loss"], rel=1e-6)
    for step in range(1, 5):
        assert b[step]["contrastive_batch"] == a[step]["contrastive_batch"] == 8
        for term in ("loss", "align", "tcn", "act", "masked_same_clip", "negatives_image"):
            assert b[step][term] == pytest.approx(a[step][term], rel=1e-5, abs=1e-6), (step, term)


def test_global_batch_must_divide_over_processes_and_micro_batches():
    from dynaflip.train.config import DataConfig, OptimConfig, TrainConfig

    config = TrainConfig(data=DataConfig(global_batch_size=32), optim=OptimConfig(accumulation_steps=2))
    assert config.per_process_batch(4) == 4 and config.per_process_batch(1) == 16
    with pytest.raises(ValueError, match=r"data\.global_batch_size: 32 is not a multiple of 3 processes x 2"):
        config.per_process_batch(3)
