"""The training loop: accelerate (DDP by default, DeepSpeed ZeRO-1/2 by config), bf16 autocast where the
device supports it, gradient accumulation and clipping, AdamW with warmup + cosine, atomic checkpoints with
exact resume, TensorBoard and console logging, and an export of the image encoder at the end."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm import tqdm

from dynaflip.config import to_dict
from dynaflip.models.dynaflip_model import DynaFLIP
from dynaflip.models.text_encoder import FrozenTextEncoder, text_embedding_dim
from dynaflip.objective import DynaFLIPLoss

from .checkpoint import latest_checkpoint, read_rank_state, read_state, save_checkpoint
from .config import TrainConfig
from .data import StreamState, TrainingData
from .export import export_run
from .launch import apply_slurm_environment

log = logging.getLogger("dynaflip.train")
METRICS_FILE = "metrics.jsonl"
NO_DECAY = ("pos_embed", "cls_token", "reg_token", "step_embedding", "log_logit_scale")


def _precision(config: TrainConfig, use_cpu: bool) -> str:
    wanted = config.runtime.precision
    if wanted == "fp32" or use_cpu:
        if wanted == "bf16" and use_cpu:
            log.warning("runtime.precision=bf16 on the CPU: training in fp32 instead")
        return "no"
    if wanted == "bf16" or (wanted == "auto" and torch.cuda.is_bf16_supported()):
        return "bf16"
    return "no"


def _deepspeed_plugin(config: TrainConfig, precision: str):
    if not config.runtime.deepspeed_config:
        return None
    from accelerate import DeepSpeedPlugin

    path = Path(config.runtime.deepspeed_config)
    if not path.is_file():
        raise FileNotFoundError(f"runtime.deepspeed_config: '{path}' not found (see configs/deepspeed/)")
    ds_config = json.loads(path.read_text())
    # accelerate cannot read the batch size from a loader it does not prepare: fill it in ourselves.
    ds_config["train_micro_batch_size_per_gpu"] = config.data.batch_size
    ds_config["gradient_accumulation_steps"] = config.optim.accumulation_steps
    ds_config["gradient_clipping"] = config.optim.grad_clip if config.optim.grad_clip > 0 else 0.0
    ds_config["bf16"] = {"enabled": precision == "bf16"}
    ds_config.pop("train_batch_size", None)
    return DeepSpeedPlugin(hf_ds_config=ds_config)


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if parameter.ndim <= 1 or any(tag in name for tag in NO_DECAY):
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_lambda(step: int, *, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine to ``min_ratio`` at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class _StopRequest:
    """SIGTERM/SIGUSR1 (Slurm's preemption warning) ask for a checkpoint at the next step boundary."""

    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True


def train(config: TrainConfig, *, resume: str | None = None) -> Path:
    """Train, checkpoint and export; returns the run folder."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    apply_slurm_environment()
    use_cpu = config.runtime.cpu or not torch.cuda.is_available()
    precision = _precision(config, use_cpu)
    accelerator = Accelerator(
        cpu=use_cpu,
        mixed_precision=precision,
        gradient_accumulation_steps=config.optim.accumulation_steps,
        deepspeed_plugin=_deepspeed_plugin(config, precision),
    )
    run_dir = Path(config.runtime.output_dir)
    main = accelerator.is_main_process
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _setup_file_logging(run_dir)
    config_yaml = yaml.safe_dump(to_dict(config), sort_keys=False)

    set_seed(config.runtime.seed)  # identical initial weights on every rank
    text_dim = text_embedding_dim(config.model.text) if config.objective.uses_language else None
    model = DynaFLIP(config.model, config.objective, text_dim=text_dim)
    loss_fn = DynaFLIPLoss(config.objective)
    optimizer = torch.optim.AdamW(
        _parameter_groups(model, config.optim.weight_decay),
        lr=config.optim.lr,
        betas=config.optim.betas,
        eps=config.optim.eps,
    )
    total = config.runtime.steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_lambda(
            step, warmup=config.optim.warmup_steps, total=total, min_ratio=config.optim.min_lr_ratio
        ),
    )
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    unwrapped: DynaFLIP = accelerator.unwrap_model(model)
    data_config = unwrapped.image_encoder.data_config
    mean = torch.tensor(data_config["mean"], device=accelerator.device).view(1, 1, 3, 1, 1)
    std = torch.tensor(data_config["std"], device=accelerator.device).view(1, 1, 3, 1, 1)

    data = TrainingData(
        config.data,
        grid_size=config.model.grid_size,
        seed=config.runtime.seed,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
    )
    step, counters, stream = 0, {"samples": 0, "skipped": 0}, StreamState()
    checkpoint = _resolve_resume(resume, run_dir)
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        saved = read_state(checkpoint)
        step = int(saved["step"])
        counters = saved.get("counters", counters)
        rank_state = read_rank_state(checkpoint, accelerator.process_index)
        if rank_state is not None and saved.get("world_size") == accelerator.num_processes:
            stream = StreamState.from_dict(rank_state)
        else:
            log.warning("%s: saved with another world size; the data stream restarts at its epoch", checkpoint)
            stream = StreamState(epoch=int(rank_state["epoch"]) + 1 if rank_state else 0)
        if main:
            log.info("resumed from %s at step %d", checkpoint, step)

    text_encoder: FrozenTextEncoder | None = None
    writer = _tensorboard(run_dir) if (main and config.runtime.tensorboard) else None
    stop = _StopRequest()
    global_batch = config.data.batch_size * accelerator.num_processes * config.optim.accumulation_steps
    if main:
        log.info(
            "training %s: %d steps, global batch %d (%d processes x %d x %d accumulation), %s, dataset %d samples "
            "(%d steps per epoch)",
            config.recipe,
            total,
            global_batch,
            accelerator.num_processes,
            config.data.batch_size,
            config.optim.accumulation_steps,
            f"precision {precision}" + (", DeepSpeed" if config.runtime.deepspeed_config else ""),
            data.dataset_size,
            data.batches_per_epoch // config.optim.accumulation_steps,
        )
    batches = data.batches(stream)
    start_step = step
    bar = tqdm(total=total, initial=step, disable=not main, unit="step", desc="train", dynamic_ncols=True)
    model.train()
    window_start, window_steps, data_seconds = time.perf_counter(), 0, 0.0
    while step < total:
        terms_sum: dict[str, float] = {}
        for _ in range(config.optim.accumulation_steps):
            fetch = time.perf_counter()
            batch = next(batches)
            data_seconds += time.perf_counter() - fetch
            counters["skipped"] += int(batch["skipped"])
            frames = (batch["frames"].to(accelerator.device, non_blocking=True).float() / 255.0 - mean) / std
            text_embedding = None
            if config.objective.uses_language:
                if batch["text_embedding"] is not None and batch["text_encoder"] == config.model.text.name:
                    text_embedding = batch["text_embedding"].to(accelerator.device)
                else:
                    if text_encoder is None:
                        text_encoder = FrozenTextEncoder(config.model.text).to(accelerator.device)
                    text_embedding = text_encoder(batch["instructions"])
            with accelerator.accumulate(model):
                with accelerator.autocast():
                    outputs = model(
                        frames,
                        points3d=batch["points3d"].to(accelerator.device),
                        points3d_valid=batch["points3d_valid"].to(accelerator.device),
                        text_embedding=text_embedding,
                    )
                    result = loss_fn(
                        outputs,
                        text_ids=batch["text_ids"].to(accelerator.device),
                        clip_ids=batch["clip_ids"].to(accelerator.device),
                    )
                accelerator.backward(result.total)
                if accelerator.sync_gradients and config.optim.grad_clip > 0 and not config.runtime.deepspeed_config:
                    accelerator.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            for name, value in {"loss": result.total, **result.terms, **result.metrics}.items():
                terms_sum[name] = terms_sum.get(name, 0.0) + float(value.detach()) / config.optim.accumulation_steps
        step += 1
        window_steps += 1
        counters["samples"] += global_batch
        bar.update(1)
        if step % config.runtime.log_every == 0 or step == total:
            elapsed = time.perf_counter() - window_start
            reduced = _reduce(accelerator, terms_sum)
            stats = {
                "step": step,
                "epoch": stream.epoch,
                "lr": scheduler.get_last_lr()[0],
                "samples_per_second": window_steps * global_batch / max(elapsed, 1e-9),
                "data_wait_fraction": data_seconds / max(elapsed, 1e-9),
                "skipped_samples": counters["skipped"],
                "memory_mb": _memory_mb(accelerator.device),
                **reduced,
            }
            if main:
                _log_step(run_dir, stats, writer, bar)
            window_start, window_steps, data_seconds = time.perf_counter(), 0, 0.0
        stop_now = _any_rank(accelerator, stop.requested) or (
            config.runtime.stop_after is not None and step - start_step >= config.runtime.stop_after and step < total
        )
        if step % config.runtime.checkpoint_every == 0 or step == total or stop_now:
            _checkpoint(accelerator, run_dir, step, counters, stream, unwrapped, config, config_yaml, data.summary())
        if stop_now:
            if main:
                log.info("stopping at step %d (signal or runtime.stop_after): checkpoint written", step)
            bar.close()
            return run_dir
    bar.close()
    if writer is not None:
        writer.close()
    if main and config.runtime.export_at_end:
        export_dir = export_run(run_dir)
        log.info("exported the image encoder to %s", export_dir)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return run_dir


def _resolve_resume(resume: str | None, run_dir: Path) -> Path | None:
    if resume is None:
        return None
    if resume == "auto":
        return latest_checkpoint(run_dir)
    path = Path(resume)
    read_state(path)  # a clear error for an incomplete or wrong folder
    return path


def _checkpoint(accelerator, run_dir, step, counters, stream, unwrapped, config, config_yaml, data_summary) -> None:
    save_checkpoint(
        accelerator,
        run_dir,
        step=step,
        state={"counters": counters, "recipe": config.recipe, "data": data_summary},
        rank_state=stream.to_dict(),
        encoder_state=unwrapped.image_encoder.backbone.state_dict() if accelerator.is_main_process else None,
        config_yaml=config_yaml,
        keep=config.runtime.keep_checkpoints,
    )


def _reduce(accelerator, values: dict[str, float]) -> dict[str, float]:
    names = sorted(values)
    tensor = torch.tensor([values[name] for name in names], device=accelerator.device, dtype=torch.float64)
    tensor = accelerator.reduce(tensor, reduction="mean")
    return dict(zip(names, tensor.tolist(), strict=True))


def _any_rank(accelerator, flag: bool) -> bool:
    tensor = torch.tensor([1.0 if flag else 0.0], device=accelerator.device)
    return bool(accelerator.reduce(tensor, reduction="sum").item() > 0)


def _memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("tensorboard is not installed: no TensorBoard logs (pip install 'dynaflip[train]')")
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def _log_step(run_dir: Path, stats: dict[str, Any], writer, bar) -> None:
    with open(run_dir / METRICS_FILE, "a") as handle:
        handle.write(json.dumps(stats) + "\n")
    if writer is not None:
        for name, value in stats.items():
            if name == "step":
                continue
            group = "loss" if name in ("loss", "align", "tcn", "act") or name.startswith("align_") else "train"
            writer.add_scalar(f"{group}/{name}", value, stats["step"])
        writer.flush()
    terms = " ".join(f"{k} {stats[k]:.4f}" for k in ("loss", "align", "tcn", "act") if k in stats)
    top1 = f" top1 {stats['retrieval_top1']:.2f}" if "retrieval_top1" in stats else ""
    message = (
        f"step {stats['step']}: {terms}{top1} lr {stats['lr']:.2e} {stats['samples_per_second']:.1f} samples/s "
        f"data-wait {stats['data_wait_fraction']:.0%}"
    )
    bar.write(message)
    log.debug(message)


def _setup_file_logging(run_dir: Path) -> None:
    handler = logging.FileHandler(run_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("dynaflip")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if os.environ.get("DYNAFLIP_DEBUG") else logging.INFO)
