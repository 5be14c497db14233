"""The training loop: build, restore, loop. DDP by default or a DeepSpeed ZeRO-1/2 engine (train/backend.py),
bf16 where asked for, gradient accumulation with negatives across micro-batches (train/step.py), clipping,
AdamW with warmup + cosine set per optimiser step (train/schedule.py), atomic checkpoints with exact resume,
TensorBoard and console logging, and an export of the image encoder at the end."""

from __future__ import annotations

import dataclasses
import json
import logging
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
from dynaflip.models.text_encoder import text_embedding_dim
from dynaflip.objective import DynaFLIPLoss

from .backend import Backend, build_accelerator, prepare, use_cpu, world_size_from_environment
from .checkpoint import latest_checkpoint, read_rank_state, read_state, save_checkpoint
from .config import TrainConfig
from .config_history import record_config
from .data import StreamState, TrainingData
from .export import export_run
from .fingerprint import ResumeMismatch, check_resume, run_fingerprint, shard_manifests
from .health import HealthMonitor
from .launch import apply_slurm_environment, pick_cuda_device, slurm_threads
from .param_groups import parameter_groups
from .run_summary import RunSummary
from .schedule import learning_rate, set_learning_rate
from .step import BatchPreparer, TrainStep

log = logging.getLogger("dynaflip.train")
METRICS_FILE = "metrics.jsonl"


class _StopRequest:
    """SIGTERM/SIGUSR1 (Slurm's preemption warning) ask for a checkpoint at the next step boundary."""

    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True


def train(config: TrainConfig, *, resume: str | None = None, resume_allow: tuple[str, ...] = ()) -> Path:
    """Train, checkpoint and export; returns the run folder. ``resume``: "auto" or a checkpoint folder; a
    checkpoint of another run (config or shards, see train/fingerprint.py) is refused before anything is
    built, unless ``resume_allow`` names every changed key (or a prefix of it)."""
    from accelerate.utils import set_seed

    apply_slurm_environment()
    threads = slurm_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    run_dir = Path(config.runtime.output_dir)
    checkpoint = _resolve_resume(resume, run_dir)
    fingerprint = run_fingerprint(config, manifests=shard_manifests(config.data))
    accepted = check_resume(
        read_state(checkpoint).get("fingerprint") if checkpoint is not None else None,
        fingerprint,
        checkpoint=checkpoint,
        allow=resume_allow,
    )
    _bind_cuda_device(config)
    micro_batch = config.per_process_batch(world_size_from_environment())
    accelerator = build_accelerator(config, micro_batch=micro_batch)
    if config.per_process_batch(accelerator.num_processes) != micro_batch:  # WORLD_SIZE announced another size
        raise ValueError(
            f"data.global_batch_size: split for WORLD_SIZE={world_size_from_environment()}, but "
            f"{accelerator.num_processes} processes joined"
        )
    main = accelerator.is_main_process
    config_yaml = yaml.safe_dump(to_dict(config), sort_keys=False)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _setup_file_logging(run_dir)

    set_seed(config.runtime.seed)  # identical initial weights on every rank
    # Pretrained weights are fetched by the main process alone; the others wait, then read its cache.
    with accelerator.main_process_first():
        text_dim = text_embedding_dim(config.model.text) if config.objective.uses_language else None
        model = DynaFLIP(config.model, config.objective, text_dim=text_dim)
        if main and config.objective.uses_language:
            _fetch_text_model(config)
    optimizer = torch.optim.AdamW(
        parameter_groups(model, config.optim),
        lr=config.optim.lr,
        betas=config.optim.betas,
        eps=config.optim.eps,
    )
    backend = prepare(accelerator, model, optimizer, grad_clip=config.optim.grad_clip)
    unwrapped: DynaFLIP = accelerator.unwrap_model(backend.model)
    data_config = unwrapped.image_encoder.data_config
    prepare_batch = BatchPreparer(
        device=accelerator.device,
        dtype=backend.input_dtype,
        mean=tuple(data_config["mean"]),
        std=tuple(data_config["std"]),
        text=config.model.text if config.objective.uses_language else None,
    )
    train_step = TrainStep(backend=backend, loss_fn=DynaFLIPLoss(config.objective))

    data = TrainingData(
        dataclasses.replace(config.data, batch_size=micro_batch),
        grid_size=config.model.grid_size,
        seed=config.runtime.seed,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
    )
    summary = RunSummary.from_live(backend, data=data, config=config)
    step, counters, stream = 0, {"samples": 0, "skipped": 0}, StreamState()
    if checkpoint is not None:
        step, counters, stream = _restore(checkpoint, backend, counters)
    if main:  # once the checkpoint loaded: a start that failed leaves no history entry
        record_config(run_dir, config_yaml, resumed_from=checkpoint)
        for change in accepted:
            log.warning("resuming %s with an accepted change: %s", checkpoint, change)

    writer = _tensorboard(run_dir) if (main and config.runtime.tensorboard) else None
    health = HealthMonitor.start(config, unwrapped, run_dir=run_dir, writer=writer, step=step, main=main)
    stop = _StopRequest()
    total = config.runtime.steps
    accumulation = config.optim.accumulation_steps
    if main:
        print(f"dynaflip-train: {summary.line()}", flush=True)
        log.info(
            "training %s: %d steps, %s; dataset %d samples (%d steps per epoch)",
            config.recipe,
            total,
            summary.line(),
            data.dataset_size,
            data.batches_per_epoch // accumulation,
        )
    batches = data.batches(stream)
    start_step = step
    bar = tqdm(total=total, initial=step, disable=not main, unit="step", desc="train", dynamic_ncols=True)
    backend.model.train()
    window_start, window_steps, data_seconds = time.perf_counter(), 0, 0.0
    while step < total:
        rate = learning_rate(step, optim=config.optim, total=total)
        set_learning_rate(backend.base_optimizer, rate)
        micro_batches = []
        for _ in range(accumulation):
            fetch = time.perf_counter()
            batch = next(batches)
            data_seconds += time.perf_counter() - fetch
            counters["skipped"] += batch.stream.skipped
            micro_batches.append(prepare_batch(batch))
        result = train_step(micro_batches)
        values = {"loss": result.total, **result.terms, **result.metrics}
        step += 1
        window_steps += 1
        counters["samples"] += summary.global_batch
        bar.update(1)
        if step % config.runtime.log_every == 0 or step == total:
            elapsed = time.perf_counter() - window_start
            reduced = _reduce(accelerator, {name: float(value.detach()) for name, value in values.items()})
            stats = {
                "step": step,
                "epoch": stream.epoch,
                "lr": rate,  # the rate this step was taken with
                "samples_per_second": window_steps * summary.global_batch / max(elapsed, 1e-9),
                "data_wait_fraction": data_seconds / max(elapsed, 1e-9),
                "skipped_samples": counters["skipped"],
                "remote_retries": data.remote_retries,  # transient remote read errors retried (this rank)
                "memory_mb": _memory_mb(accelerator.device),
                "contrastive_batch": summary.contrastive_batch,
                **reduced,
            }
            if main:
                _log_step(run_dir, stats, writer, bar)
            window_start, window_steps, data_seconds = time.perf_counter(), 0, 0.0
        signalled = _any_rank(accelerator, stop.requested)
        stop_now = signalled or (
            config.runtime.stop_after is not None and step - start_step >= config.runtime.stop_after and step < total
        )
        if step % config.runtime.checkpoint_every == 0 or step == total or stop_now:
            _checkpoint(
                backend, run_dir, step, counters, stream, config, config_yaml, data.summary(), summary, fingerprint
            )
        health.after_step(step, last=step == total or stop_now)
        if stop_now:
            if signalled:
                _ask_for_requeue(step)
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


def _restore(checkpoint: Path, backend: Backend, counters: dict[str, int]) -> tuple[int, dict[str, int], StreamState]:
    """Load a checkpoint into the live objects; the step, counters and this rank's data position."""
    accelerator = backend.accelerator
    saved = read_state(checkpoint)
    saved_backend = saved.get("distributed", "DDP")
    if saved_backend.startswith("DeepSpeed") != backend.is_deepspeed:
        raise ValueError(
            f"{checkpoint}: written by a {saved_backend} run, cannot resume it with {backend.name} "
            "(runtime.deepspeed_config must match the run's)"
        )
    try:
        accelerator.load_state(str(checkpoint))
    except (RuntimeError, ValueError, KeyError) as error:
        text = str(error).replace("_", " ").lower()
        if "state dict" not in text and "parameter group" not in text:
            raise
        first = str(error).strip().splitlines()[0]
        raise ResumeMismatch(
            f"{checkpoint}: does not fit the model this config builds ({first[:200]}); a config change "
            "accepted with --resume-allow altered the model"
        ) from None
    step = int(saved["step"])
    counters = saved.get("counters", counters)
    rank_state = read_rank_state(checkpoint, accelerator.process_index)
    if rank_state is not None and saved.get("world_size") == accelerator.num_processes:
        stream = StreamState.from_dict(rank_state)
    else:
        log.warning("%s: saved with another world size; the data stream restarts at its epoch", checkpoint)
        stream = StreamState(epoch=int(rank_state["epoch"]) + 1 if rank_state else 0)
    if accelerator.is_main_process:
        log.info("resumed from %s at step %d", checkpoint, step)
    return step, counters, stream


def _resolve_resume(resume: str | None, run_dir: Path) -> Path | None:
    if resume is None:
        return None
    if resume == "auto":
        return latest_checkpoint(run_dir)
    path = Path(resume)
    read_state(path)  # a clear error for an incomplete or wrong folder
    return path


def _checkpoint(
    backend, run_dir, step, counters, stream, config, config_yaml, data_summary, summary, fingerprint
) -> None:
    encoder_state = backend.fp32_state_dict("image_encoder.backbone")  # collective under DeepSpeed
    accelerator = backend.accelerator
    save_checkpoint(
        accelerator,
        run_dir,
        step=step,
        state={
            "counters": counters,
            "recipe": config.recipe,
            "data": data_summary,
            "distributed": summary.backend,
            "precision": summary.precision,
            "global_batch": summary.global_batch,
            "fingerprint": fingerprint,
        },
        rank_state=stream.to_dict(),
        encoder_state=encoder_state if accelerator.is_main_process else None,
        config_yaml=config_yaml,
        keep=config.runtime.keep_checkpoints,
    )


def _ask_for_requeue(step: int) -> None:
    """Tell slurm/train.sbatch that the tasks stopped on a signal with a checkpoint, so it requeues the job: a
    preemption's SIGTERM reaches the tasks but not the batch script. Every process writes the same file (one
    of them shares the batch script's node)."""
    path = os.environ.get("DYNAFLIP_REQUEUE_FILE")
    if path:
        from dynaflip.io import atomic_write_text

        atomic_write_text(path, f"checkpointed at step {step} on a signal\n")


def _bind_cuda_device(config: TrainConfig) -> None:
    """Select this process's GPU among the visible ones before accelerate does (it indexes by LOCAL_RANK,
    which fails where Slurm shows each task one GPU 0: see dynaflip.distributed.cuda_device_index)."""
    if use_cpu(config):
        return
    index = pick_cuda_device(device_count=torch.cuda.device_count())
    if index is not None:
        torch.cuda.set_device(index)
        log.debug("using cuda:%d (CUDA_VISIBLE_DEVICES=%s)", index, os.environ.get("CUDA_VISIBLE_DEVICES"))


def _fetch_text_model(config: TrainConfig) -> None:
    """Load the text model once (hub ids are downloaded into the cache here, by the main process alone);
    every rank's first batch then reads it locally."""
    from dynaflip.models.text_encoder import FrozenTextEncoder, resolve_text_model_path

    if not Path(resolve_text_model_path(config.model.text.name)).exists():
        FrozenTextEncoder(config.model.text)


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
