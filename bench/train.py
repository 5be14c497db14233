"""Training-step cost of DynaFLIP against an image-only step and an image-text CLIP step, and whether the
data loader keeps up.

Steps (forward, backward, AdamW update) on the same backbone and batch:
  image-only  the baseline objective: temporal contrastive loss on I_t, I_mid, I_t+H (no language, no flow)
  clip        CLIP-style: one frame per sample, InfoNCE against the (cached) text embedding
  dynaflip    the full objective: area InfoNCE + cosine regulariser + temporal + actor
  trainer     (--trainer) the trainer's own step on the same batch: train/step.py through train/backend.py,
              i.e. one process or DDP (under torchrun), or a DeepSpeed engine (--deepspeed), with
              --accumulation k micro-batches (negatives across them: one more forward pass each)
Ratios are against image-only, measured in alternating rounds in one process. Then the loader alone
(decode + augmentation on its workers, from real extraction shards) is timed and compared with how many
samples per second the full step consumes. With --flops, model FLOP utilisation is printed too (GPU).

    .venv/bin/python bench/train.py                                   # ViT-S/16, 224 px, batch 32, CPU
    .venv/bin/python bench/train.py --trainer --accumulation 2        # the trainer step against the bare one
    # The GPU check (unmeasured here, no GPU): MFU and memory at ViT-B/14 bf16, DDP and ZeRO-2, 4 GPUs
    torchrun --nproc_per_node 4 bench/train.py --model vit_base_patch14_dinov2 --device cuda --bf16 --flops \
        --batch 8 --trainer --loader-batches 0
    torchrun --nproc_per_node 4 bench/train.py --model vit_base_patch14_dinov2 --device cuda --bf16 --flops \
        --batch 8 --trainer --deepspeed configs/deepspeed/zero2.json --loader-batches 0
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import measure_interleaved

from dynaflip.batch import Batch
from dynaflip.models import DynaFLIP, ImageEncoderConfig, ModelConfig
from dynaflip.objective import DynaFLIPLoss, ObjectiveConfig
from dynaflip.step import forward_and_loss
from dynaflip.synthetic import synthetic_batch
from dynaflip.train.config import DataConfig, OptimConfig, RuntimeConfig, ShardSet, TrainConfig
from dynaflip.train.data import StreamState, TrainingData

# Dense bf16 peak of the accelerators this project is lent (for model FLOP utilisation).
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}

OBJECTIVES = {
    "image-only": (ObjectiveConfig(modalities=["image"], lambda_act=0.0), "difference"),
    "clip": (
        ObjectiveConfig(modalities=["image", "language"], alignment="pairwise", lambda_tcn=0.0, lambda_act=0.0),
        "reference",
    ),
    "dynaflip": (ObjectiveConfig(), "difference"),
}  # fmt: skip


def make_step(name: str, args, device: torch.device, batch: Batch) -> tuple:
    """A bare step (forward and loss as the trainer runs them, backward, AdamW) of objective ``name``."""
    objective, inputs = OBJECTIVES[name]
    config = ModelConfig(image=ImageEncoderConfig(name=args.model, img_size=args.size), transition_inputs=inputs)
    torch.manual_seed(0)
    model = DynaFLIP(config, objective, text_dim=batch.text_embedding.shape[1]).to(device).train()
    optimizer = torch.optim.AdamW((p for p in model.parameters() if p.requires_grad), lr=1e-4)
    loss_fn = DynaFLIPLoss(objective)

    def step():
        optimizer.zero_grad(set_to_none=True)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)
        result = forward_and_loss(model, loss_fn, batch, autocast=autocast)
        result.total.backward()
        optimizer.step()
        return result

    return model, step


def make_trainer_step(args, device: torch.device, batch: Batch) -> tuple:
    """The trainer's step (train/step.py) through the real backend: what dynaflip-train runs per step."""
    from dynaflip.train.backend import build_accelerator, prepare
    from dynaflip.train.step import TrainStep

    objective, inputs = OBJECTIVES["dynaflip"]
    config = TrainConfig(
        model=ModelConfig(image=ImageEncoderConfig(name=args.model, img_size=args.size), transition_inputs=inputs),
        objective=objective,
        optim=OptimConfig(accumulation_steps=args.accumulation, lr=1e-4),
        runtime=RuntimeConfig(
            precision="bf16" if args.bf16 else "fp32", deepspeed_config=args.deepspeed, cpu=device.type == "cpu"
        ),
    )
    micro = args.batch // args.accumulation
    accelerator = build_accelerator(config, micro_batch=micro)
    torch.manual_seed(0)
    model = DynaFLIP(config.model, objective, text_dim=batch.text_embedding.shape[1])
    backend = prepare(accelerator, model, torch.optim.AdamW(model.parameters(), lr=1e-4), grad_clip=1.0)
    micro_batches = batch.to(dtype=backend.input_dtype).split(args.accumulation)
    train_step = TrainStep(backend=backend, loss_fn=DynaFLIPLoss(objective))
    backend.model.train()
    label = f"{backend.name}, {backend.precision}, {args.accumulation} x {micro}"
    return backend, (lambda: train_step(micro_batches)), label


def count_flops(step) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def shards_for_loader(args) -> str:
    if args.shards:
        return args.shards
    out = Path(args.cache) / f"metaworld-{args.size}"
    if not (out / "sizes.json").is_file():
        command = [sys.executable, "-m", "dynaflip.extract.cli", "metaworld", "--out", str(out), "--episodes-per-task",
                   "4", "--image-size", str(args.size), "--no-progress"]  # fmt: skip
        subprocess.run(command, check=True)
    return str(out)


def loader_rate(args, shards: str, batches: int) -> float:
    config = DataConfig(
        shards=[ShardSet(path=shards)],
        batch_size=args.batch,
        workers=args.workers,
        image_size=args.size,
        shuffle_buffer=100,
    )
    data = TrainingData(config, grid_size=20, seed=0, rank=0, world_size=1)
    iterator = data.batches(StreamState())
    next(iterator)  # workers started, shuffle buffer primed
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * args.batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vit_small_patch16_224")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--flops", action="store_true", help="count FLOPs per step (model FLOP utilisation)")
    parser.add_argument("--shards", help="extraction folder for the loader measurement (default: generate)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "dynaflip-bench-shards"))
    parser.add_argument("--workers", type=int, default=2, help="loader worker processes")
    parser.add_argument("--loader-batches", type=int, default=20, help="0: skip the loader measurement")
    parser.add_argument("--trainer", action="store_true", help="also time the trainer's step (train/step.py)")
    parser.add_argument("--accumulation", type=int, default=1, help="micro-batches of the trainer step")
    parser.add_argument("--deepspeed", help="DeepSpeed JSON for the trainer step (e.g. configs/deepspeed/zero2.json)")
    args = parser.parse_args(argv)
    if args.batch % args.accumulation:
        parser.error("--batch must be a multiple of --accumulation")
    device = torch.device(args.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    main_process = int(os.environ.get("RANK", "0")) == 0

    batch = synthetic_batch(args.batch, image_size=args.size, text_dim=384).to(device)
    steps, models = {}, {}
    for name in OBJECTIVES:
        models[name], steps[name] = make_step(name, args, device, batch)
    trainer_label = ""
    if args.trainer:
        _, steps["trainer"], trainer_label = make_trainer_step(args, device, batch)
    say = print if main_process else (lambda *a, **k: None)
    say(f"# {args.model} {args.size}px, batch {args.batch}, device {device}, bf16 {args.bf16}, "
        f"threads {torch.get_num_threads()}" + (f"; trainer: {trainer_label}" if trainer_label else ""))  # fmt: skip
    results = measure_interleaved(steps, device=device, rounds=args.rounds)
    baseline = results["image-only"]
    for name, result in results.items():
        rate = args.batch / result.seconds
        say(result.row(f"{name:<10} {rate:7.1f} samples/s", None if name == "image-only" else baseline))
    if args.trainer:
        overhead = results["trainer"].seconds / results["dynaflip"].seconds
        say(f"trainer step vs the bare dynaflip step: x{overhead:.2f} time")
    if args.flops:
        for name, step in steps.items():
            flops = count_flops(step)
            achieved = flops / results[name].seconds
            line = f"{name:<10} {flops / 1e9:,.2f} GFLOP per step, {achieved / 1e12:.3f} TFLOP/s"
            if device.type == "cuda":
                gpu = torch.cuda.get_device_name(device)
                peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in gpu), None)
                if peak:
                    line += f", MFU {achieved / peak:.1%} of {gpu}'s dense bf16 peak"
                line += f", peak memory {results[name].peak_bytes / 2**30:.1f} GiB"
            say(line)
    if args.loader_batches > 0 and main_process:
        consumption = args.batch / results["dynaflip"].seconds
        produced = loader_rate(args, shards_for_loader(args), args.loader_batches)
        print(f"loader ({args.workers} workers) {produced:.1f} samples/s vs the full step's consumption "
              f"{consumption:.1f} samples/s: x{produced / consumption:.1f} headroom")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
