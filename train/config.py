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
    batch_size: int = 32  # per process
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


@dataclass
class RuntimeConfig:
    output_dir: str = "runs/dynaflip"
    steps: int = 10000  # optimiser steps (the learning-rate schedule spans them)
    # End this process after this many steps (checkpoint, exit 0) although the schedule targets `steps`:
    # for time-sliced cluster jobs that resume with --resume auto.
    stop_after: int | None = None
    seed: int = 0
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on GPUs that support it, fp32 on CPU
    deepspeed_config: str | None = None  # e.g. configs/deepspeed/zero2.json
    cpu: bool = False  # force the CPU even when a GPU is present
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10
    tensorboard: bool = True
    export_at_end: bool = True


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    recipe: str = "custom"  # a name recorded in checkpoints and exports
