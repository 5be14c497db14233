"""The training recipe: data, model, objective, optimisation and runtime, as one validated dataclass.

Recipes live in ``configs/train/*.yaml``; the command line layers ``key=value`` overrides on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dynaflip.models.dynaflip_model import ModelConfig
from dynaflip.objective.config import ObjectiveConfig


@dataclass
class ShardSet:
    """One extraction output: a folder with sizes.json (or a brace pattern of shards, then ``samples`` is
    needed), mixed into training with probability proportional to ``weight`` (per sample)."""

    path: str
    weight: float = 1.0
    samples: int | None = None


@dataclass
class ColorJitter:
    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.05
    hue: float = 0.02


@dataclass
class DataConfig:
    shards: list[ShardSet] = field(default_factory=list)
    batch_size: int = 32  # samples per process and micro-batch
    # When set, the batch of one optimiser step over all processes and micro-batches; batch_size is then
    # derived as global_batch_size / (world size x optim.accumulation_steps), which must divide exactly.
    # The contrastive negatives come from this whole batch (gathered across processes, cached across
    # micro-batches): negatives per anchor = global batch - 1, less the masked same-clip columns.
    global_batch_size: int | None = None
    workers: int = 4  # loader processes per training process
    image_size: int = 224
    crop_scale: tuple[float, float] = (0.8, 1.0)  # random resized crop, the same for every frame of a sample
    color_jitter: ColorJitter = field(default_factory=ColorJitter)
    shuffle_buffer: int = 1000
    # Samples per epoch (all ranks); null = the dataset size from the extraction manifests.
    samples_per_epoch: int | None = None


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 500
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    accumulation_steps: int = 1
    # The image backbone's own rate and decay (a collapse remedy, issue 22; the paper uses one rate): its rate
    # is lr x backbone_lr_scale at every step of the schedule; backbone_weight_decay null = weight_decay.
    backbone_lr_scale: float = 1.0
    backbone_weight_decay: float | None = None


@dataclass
class RuntimeConfig:
    output_dir: str = "runs/dynaflip"
    steps: int = 10000  # optimiser steps (the learning-rate schedule spans them)
    # End this process after this many steps (checkpoint, exit 0) although the schedule targets `steps`:
    # for time-sliced cluster jobs that resume with --resume auto.
    stop_after: int | None = None
    seed: int = 0
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on GPUs that support it, fp32 on CPU
    # A DeepSpeed JSON with the ZeRO stage (0-2) and its options, e.g. configs/deepspeed/zero2.json; its batch,
    # accumulation, clipping and bf16 fields are set from this recipe.
    deepspeed_config: str | None = None
    cpu: bool = False  # force the CPU even when a GPU is present
    # How long a collective waits for a missing or stuck rank before the process group fails (with NCCL's
    # TORCH_NCCL_ASYNC_ERROR_HANDLING=1, set by default, the job then ends instead of hanging).
    timeout_minutes: float = 30.0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10
    tensorboard: bool = True
    export_at_end: bool = True


@dataclass
class HealthConfig:
    """Representation health (effective rank, first-PC share, consecutive/random distance; dynaflip/health.py)
    of the image features on a fixed set of held-out frames, measured at step 0 and then every ``every`` steps
    (null: at every checkpoint), logged to metrics.jsonl and TensorBoard, with a warning when the run
    collapses against its own step 0 (train/health.py)."""

    # An extraction folder that is NOT among data.shards (e.g. a task held out of pre-training); null = off.
    shards: str | None = None
    samples: int = 24  # the first N samples of the folder (sorted shards, tar order); every stored frame of each
    every: int | None = None
    batch_size: int = 64  # frames per forward pass
    rank_fraction: float = 0.5  # warn below this fraction of step 0's effective rank ...
    pc1_share: float = 0.5  # ... or above this first-PC share (and above step 0's)


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    recipe: str = "custom"  # a name recorded in checkpoints and exports

    def per_process_batch(self, world_size: int) -> int:
        """Samples per process and micro-batch for ``world_size`` processes (see data.global_batch_size)."""
        accumulation = self.optim.accumulation_steps
        if accumulation < 1:
            raise ValueError(f"optim.accumulation_steps: expected >= 1, got {accumulation}")
        total = self.data.global_batch_size
        if total is None:
            if self.data.batch_size < 1:
                raise ValueError(f"data.batch_size: expected >= 1, got {self.data.batch_size}")
            return self.data.batch_size
        if total < 1 or total % (world_size * accumulation):
            raise ValueError(
                f"data.global_batch_size: {total} is not a multiple of {world_size} processes x "
                f"{accumulation} accumulation steps"
            )
        return total // (world_size * accumulation)
