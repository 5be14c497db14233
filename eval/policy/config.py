"""The policy-transfer config (YAML-loadable; see configs/eval/policy-*.yaml). Defaults are the paper's
Meta-World protocol as far as it is known (it matches Lift3D's; see docs in configs/eval/policy-full.yaml)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dynaflip.sim.shifts import SHIFTS, shift_spec
from dynaflip.sim.tasks import QUICK_SUITE, get_task

ID_SPLIT = "id"  # the in-distribution split: no shift (the name results.json uses)
CACHE_ENV = "DYNAFLIP_CACHE"


@dataclass
class RenderConfig:
    """How demonstrations and rollouts are seen. The 'corner' camera is upside-down in v3: the simulator
    module turns its frames upright."""

    camera: str = "corner"
    image_size: int = 224


@dataclass
class DemoConfig:
    """Scripted-expert demonstrations: seeds ``seed`` .. ``seed + per_task + validation - 1`` of each task
    (the first ``per_task`` train the policy, the rest measure its validation loss)."""

    per_task: int = 25
    validation: int = 5
    seed: int = 0
    max_steps: int = 200
    # Stop recording at the first successful step: the protocol scores success at any step, so what the
    # expert does after succeeding is never needed.
    stop_after_success: bool = True


@dataclass
class FeatureConfig:
    last_n: int = 1  # [CLS ; mean patch] of the last n blocks, concatenated
    batch_size: int = 64  # images per encoder forward when encoding demonstrations


@dataclass
class BCConfig:
    """Behaviour cloning: standardised [features ; proprioception] -> MLP -> 4-d action, MSE loss."""

    hidden: list[int] = field(default_factory=lambda: [256, 256, 256])
    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # best: keep the weights of the epoch with the lowest validation loss (needs validation demos); last: the
    # final epoch's.
    select: Literal["best", "last"] = "best"


@dataclass
class RolloutConfig:
    """Evaluation episodes: seeds ``seed`` .. ``seed + episodes - 1`` of each task, the same for every BC
    seed and split (a fixed test set, so encoders and seeds compare on paired episodes). An OOD shift's
    parameters are drawn per episode from that episode's seed."""

    episodes: int = 25
    horizon: int = 200
    seed: int = 10_000
    shifts: list[str] = field(default_factory=lambda: sorted(SHIFTS))


@dataclass
class RuntimeConfig:
    workers: int = 2  # rollout/demo worker processes (1: everything in this process)
    # torch threads per worker. 1 is fastest when rendering on the CPU: the encoder and the renderer take
    # turns every step, and OpenMP threads spinning while the renderer works slowed 2 threads 5x (measured
    # on 2 cores). Raise it for a large CPU encoder with few workers.
    threads_per_worker: int = 1
    device: str = "cpu"  # where the workers run the encoder and the policy
    train_device: str = "cpu"  # where this process encodes the demos and trains behaviour cloning
    train_threads: int = 1  # torch threads for behaviour cloning (its small MLP steps run best on one)
    cache_dir: str | None = None  # demos and features; default $DYNAFLIP_CACHE/policy or ~/.cache/dynaflip/policy
    progress: bool = True


@dataclass
class PolicyConfig:
    tasks: list[str] = field(default_factory=lambda: list(QUICK_SUITE))
    render: RenderConfig = field(default_factory=RenderConfig)
    demos: DemoConfig = field(default_factory=DemoConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    bc: BCConfig = field(default_factory=BCConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    @property
    def splits(self) -> list[str]:
        """'id' then the shifts, in config order."""
        return [ID_SPLIT, *self.rollout.shifts]

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.render.image_size, self.render.image_size)

    def demo_seeds(self) -> list[int]:
        return list(range(self.demos.seed, self.demos.seed + self.demos.per_task + self.demos.validation))

    def episode_seeds(self) -> list[int]:
        return list(range(self.rollout.seed, self.rollout.seed + self.rollout.episodes))

    def cache_root(self) -> Path:
        if self.runtime.cache_dir:
            return Path(self.runtime.cache_dir).expanduser()
        return Path(os.environ.get(CACHE_ENV) or "~/.cache/dynaflip").expanduser() / "policy"


def validate(config: PolicyConfig) -> PolicyConfig:
    """Check values the types cannot; the first problem raises a ValueError naming the key."""
    if not config.tasks:
        raise ValueError("tasks: expected at least one Meta-World task")
    for task in config.tasks:
        get_task(task)
    if len(set(config.tasks)) != len(config.tasks):
        raise ValueError(f"tasks: each task once, got {config.tasks}")
    for shift in config.rollout.shifts:
        if shift == ID_SPLIT:
            raise ValueError(f"rollout.shifts: '{ID_SPLIT}' is always evaluated; list only shifts {sorted(SHIFTS)}")
        shift_spec(shift)
    if len(set(config.rollout.shifts)) != len(config.rollout.shifts):
        raise ValueError(f"rollout.shifts: each shift once, got {config.rollout.shifts}")
    positive = {
        "render.image_size": config.render.image_size,
        "demos.per_task": config.demos.per_task,
        "demos.max_steps": config.demos.max_steps,
        "features.last_n": config.features.last_n,
        "features.batch_size": config.features.batch_size,
        "bc.epochs": config.bc.epochs,
        "bc.batch_size": config.bc.batch_size,
        "rollout.episodes": config.rollout.episodes,
        "rollout.horizon": config.rollout.horizon,
        "runtime.workers": config.runtime.workers,
        "runtime.threads_per_worker": config.runtime.threads_per_worker,
        "runtime.train_threads": config.runtime.train_threads,
    }
    for key, value in positive.items():
        if value < 1:
            raise ValueError(f"{key}: expected a positive integer, got {value}")
    if config.demos.validation < 0:
        raise ValueError(f"demos.validation: expected >= 0, got {config.demos.validation}")
    if not config.bc.hidden or min(config.bc.hidden) < 1:
        raise ValueError(f"bc.hidden: expected a non-empty list of positive layer widths, got {config.bc.hidden}")
    if config.bc.lr <= 0 or config.bc.weight_decay < 0:
        raise ValueError(f"bc.lr / bc.weight_decay: expected lr > 0 and weight_decay >= 0, got {config.bc}")
    if not config.bc.seeds or len(set(config.bc.seeds)) != len(config.bc.seeds):
        raise ValueError(f"bc.seeds: expected distinct seeds, at least one, got {config.bc.seeds}")
    if config.bc.select == "best" and config.demos.validation == 0:
        raise ValueError("bc.select: 'best' needs validation demos (demos.validation > 0); or set bc.select=last")
    overlap = set(config.demo_seeds()) & set(config.episode_seeds())
    if overlap:
        raise ValueError(
            f"rollout.seed: evaluation seeds must differ from demonstration seeds; both use {sorted(overlap)[:5]}"
        )
    return config
