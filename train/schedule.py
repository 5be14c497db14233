"""The learning-rate schedule: linear warmup, then cosine decay, as a function of the optimiser step.

The trainer sets the rate itself before every optimiser step, from the number of optimiser steps already
taken. Nothing counts calls: a scheduler prepared by accelerate steps once per process for every optimiser
step (N times too fast on N processes), and one stepped per micro-batch would run k times too fast with
k-step gradient accumulation. A resumed run needs no scheduler state either: the step is in the checkpoint.
"""

from __future__ import annotations

import math

import torch

from .config import OptimConfig


def lr_lambda(step: int, *, warmup: int, total: int, min_ratio: float) -> float:
    """Multiplier of the base rate for optimiser step ``step`` (0-based): linear warmup to 1 over ``warmup``
    steps, then cosine to ``min_ratio`` at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def learning_rate(step: int, *, optim: OptimConfig, total: int) -> float:
    """The rate of optimiser step ``step`` (0-based) of a run of ``total`` steps."""
    return optim.lr * lr_lambda(step, warmup=optim.warmup_steps, total=total, min_ratio=optim.min_lr_ratio)


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    """Set every parameter group's rate (times its ``lr_scale``, 1 when absent; see param_groups.py). Pass
    the torch optimiser the trainer built: DDP steps it directly, and DeepSpeed's ZeRO optimisers step it
    too and share its ``param_groups``."""
    for group in optimizer.param_groups:
        group["lr"] = rate * group.get("lr_scale", 1.0)
