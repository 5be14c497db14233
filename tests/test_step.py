"""The model-to-loss step has one owner (dynaflip/step.py): the bench's step and the trainer's step are the same
function and give the same loss and gradients on one batch; the typed Batch keeps the precision rule (points
never below float32) through casts, rank shares and micro-batches."""

from __future__ import annotations

import argparse
import importlib.util
import sys

import pytest
import torch

import dynaflip.step
from dynaflip.synthetic import synthetic_batch
from tests.helpers.distributed import run_distributed
from tests.helpers.training import REPO

BATCH = 4


def bench_train():
    """bench/train.py as a module (it is a script, not a package)."""
    if "bench_train" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_train", REPO / "bench" / "train.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_train"] = module
        path = list(sys.path)
        spec.loader.exec_module(module)
        sys.path[:] = path  # the script puts bench/ first, whose train.py and extract.py would shadow others
    return sys.modules["bench_train"]


def test_the_bench_and_the_trainer_call_the_same_step_function():
    from dynaflip.train import step as train_step

    assert bench_train().forward_and_loss is dynaflip.step.forward_and_loss
    assert train_step.forward_and_loss is dynaflip.step.forward_and_loss
    # The trainer's batches are the library's type, whatever prepares them.
    assert train_step.Batch is dynaflip.step.Batch


def gradient_recorder(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Each parameter's gradient as backward leaves it, before any clipping or optimiser step."""
    gradients: dict[str, torch.Tensor] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            parameter.register_post_accumulate_grad_hook(
                lambda p, name=name: gradients.__setitem__(name, p.grad.detach().clone())
            )
    return gradients


def same_step_worker(rank, world_size, out_path):
    bench = bench_train()
    args = argparse.Namespace(model="vit_tiny_patch16_224", size=32, batch=BATCH, accumulation=1, bf16=False)
    args.deepspeed = None
    batch = synthetic_batch(BATCH, image_size=32, flow_steps=3, text_dim=24, seed=4)
    model, bench_step = bench.make_step("dynaflip", args, torch.device("cpu"), batch)
    bench_gradients = gradient_recorder(model)
    torch.manual_seed(1)
    bench_result = bench_step()
    backend, trainer_step, label = bench.make_trainer_step(args, torch.device("cpu"), batch)
    assert label.startswith("single process, fp32")
    trainer_gradients = gradient_recorder(backend.accelerator.unwrap_model(backend.model))
    torch.manual_seed(1)
    trainer_result = trainer_step()
    torch.save(
        {
            "bench": (bench_result.total.detach(), {k: v.detach() for k, v in bench_result.terms.items()}),
            "trainer": (trainer_result.total.detach(), {k: v.detach() for k, v in trainer_result.terms.items()}),
            "gradients": (bench_gradients, trainer_gradients),
        },
        out_path,
    )


def test_the_bench_step_and_the_trainer_step_give_identical_losses_and_gradients(tmp_path):
    """bench/train.py's bare step and the trainer's step (train/step.py through the accelerate backend), each
    built by the bench from the same seed, on one synthetic batch: bit-identical loss, terms and gradients."""
    out_path = tmp_path / "steps.pt"
    run_distributed(same_step_worker, str(out_path), world_size=1)  # accelerate's state stays in its process
    got = torch.load(out_path)
    (bench_total, bench_terms), (trainer_total, trainer_terms) = got["bench"], got["trainer"]
    assert torch.isfinite(bench_total) and set(bench_terms) == {"align", "tcn", "act"}
    torch.testing.assert_close(trainer_total, bench_total, rtol=0, atol=0)
    for name, value in bench_terms.items():
        torch.testing.assert_close(trainer_terms[name], value, rtol=0, atol=0, msg=name)
    bench_gradients, trainer_gradients = got["gradients"]
    assert len(bench_gradients) > 50 and set(trainer_gradients) == set(bench_gradients)
    for name, gradient in bench_gradients.items():
        torch.testing.assert_close(trainer_gradients[name], gradient, rtol=0, atol=0, msg=f"gradient of {name}")


def test_batch_casts_keep_the_points_at_least_float32():
    batch = synthetic_batch(6, image_size=16, grid_size=4, flow_steps=3, text_dim=8)
    bf16 = batch.to(dtype=torch.bfloat16)
    assert bf16.frames.dtype == bf16.text_embedding.dtype == torch.bfloat16
    assert bf16.points3d.dtype == torch.float32 and torch.equal(bf16.points3d, batch.points3d)
    assert bf16.points3d_valid.dtype == torch.bool and bf16.text_ids.dtype == torch.int64
    double = batch.to(dtype=torch.float64)
    assert double.frames.dtype == double.points3d.dtype == double.text_embedding.dtype == torch.float64


def test_batch_rows_and_micro_batches_cover_the_batch_in_order():
    batch = synthetic_batch(6, image_size=16, grid_size=4, flow_steps=3, text_dim=8, num_instructions=3)
    parts = batch.split(3)
    assert [len(part) for part in parts] == [2, 2, 2]
    assert torch.equal(torch.cat([part.frames for part in parts]), batch.frames)
    assert [text for part in parts for text in part.instructions] == batch.instructions
    share = batch.rows(2, 6)
    assert torch.equal(share.clip_ids, batch.clip_ids[2:6]) and torch.equal(share.points3d, batch.points3d[2:6])
    with pytest.raises(ValueError, match="a batch of 6 does not split into 4 equal micro-batches"):
        batch.split(4)
