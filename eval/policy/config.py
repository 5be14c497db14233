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
    """Behaviour cloning: [features ; proprioception] -> input transform -> MLP -> 4-d action, MSE loss."""

    hidden: list[int] = field(default_factory=lambda: [256, 256, 256])
    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # best: keep the weights of the epoch with the lowest validation loss (needs validation demos); last: the
    # final epoch's.
    select: Literal["best", "last"] = "best"
    # Input standardisation (see eval/policy/model.py): within each group (features, proprioception) a
    # dimension's std is floored at std_floor x the group's mean std, and standardised inputs are clipped to
    # +-input_clip (null: no clipping).
    std_floor: float = 0.1
    input_clip: float | None = 5.0
    # What the MLP reads, fitted on the training demos only (eval/policy/model.py): pca_whiten = the
    # standardised image features' top transform_width principal components, each scaled to unit variance
    # (issue 22: reads the information rather than its conditioning; the same for every encoder and the
    # calibration rows); standardise = the standardised raw features (the first protocol, a secondary row).
    input_transform: Literal["standardise", "pca_whiten"] = "pca_whiten"
    transform_width: int = 32


@dataclass
class RolloutConfig:
    """Evaluation episodes of each task. ``episode_seeds: per_policy_seed`` (the default): BC seed s rolls
    out seeds ``seed + seed_stride * s`` .. ``+ episodes - 1``, a different set per BC seed (seeds that
    share episodes are near-copies, not replicates), the same for every encoder and split (encoders pair on
    (task, split, BC seed, episode seed)). ``shared``: every BC seed rolls out ``seed`` .. ``seed + episodes
    - 1``. An OOD shift's parameters are drawn per episode from that episode's seed. A shift may carry a
    severity, ``NAME@S`` with S in [0, 1] (``lighting@0.5``; ``NAME`` alone = 1, the strong documented level;
    see dynaflip/sim/shifts.py); the split is named as listed."""

    episodes: int = 25
    horizon: int = 200
    seed: int = 10_000
    episode_seeds: Literal["per_policy_seed", "shared"] = "per_policy_seed"
    seed_stride: int = 1000  # per_policy_seed: the gap between the first episode seeds of BC seeds s and s + 1
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
class CalibrationConfig:
    """``dynaflip-policy calibrate``: which candidate tasks can tell encoders apart. A task is kept when the
    oracle (simulator state through the same BC) reaches ``oracle_min`` success and ``random_encoder``
    stays at or below ``random_max`` (in distribution, at this config's settings)."""

    candidates: list[str] = field(default_factory=list)  # empty: the config's tasks
    oracle_min: float = 0.8
    random_max: float = 0.6
    random_encoder: str = "random:vit_tiny_patch16_224?img_size=64&patch_size=8&depth=6"
    # Run the blind policy and the random encoder only on tasks the oracle passes (a task it fails is
    # rejected anyway; the random encoder's rendered rollouts are most of the cost).
    only_where_oracle_passes: bool = True
    # The order of the random encoder's runs: as listed, or the tasks where the blind policy did worst first
    # (they are the likeliest to pass; useful when the CPU allows only some of them).
    random_order: Literal["listed", "blind_first"] = "listed"
    # Which rows to run now (e.g. [oracle] to screen many candidates cheaply first); a task is judged once
    # its oracle and random rows exist, here or from an earlier run in the same --out.
    roles: list[str] = field(default_factory=lambda: ["oracle", "blind", "random"])


@dataclass
class PolicyConfig:
    tasks: list[str] = field(default_factory=lambda: list(QUICK_SUITE))
    render: RenderConfig = field(default_factory=RenderConfig)
    demos: DemoConfig = field(default_factory=DemoConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    bc: BCConfig = field(default_factory=BCConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)

    @property
    def splits(self) -> list[str]:
        """'id' then the shifts, in config order."""
        return [ID_SPLIT, *self.rollout.shifts]

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.render.image_size, self.render.image_size)

    def demo_seeds(self) -> list[int]:
        return list(range(self.demos.seed, self.demos.seed + self.demos.per_task + self.demos.validation))

    def episode_seeds(self, policy_seed: int) -> list[int]:
        """The evaluation episodes of BC seed ``policy_seed`` (see :class:`RolloutConfig`)."""
        first = self.rollout.seed
        if self.rollout.episode_seeds == "per_policy_seed":
            first += self.rollout.seed_stride * int(policy_seed)
        return list(range(first, first + self.rollout.episodes))

    def all_episode_seeds(self) -> list[int]:
        """Every evaluation episode seed of the run, sorted."""
        return sorted({seed for policy_seed in self.bc.seeds for seed in self.episode_seeds(policy_seed)})

    def episode_seed_scheme(self) -> str:
        """The rule that gave the episode seeds, in words (recorded in results.json)."""
        rollout = self.rollout
        if rollout.episode_seeds == "shared":
            return f"shared: every BC seed rolls out episode seeds {rollout.seed} + i, i < {rollout.episodes}"
        return (
            f"per_policy_seed: BC seed s rolls out episode seeds {rollout.seed} + {rollout.seed_stride} * s + i, "
            f"i < {rollout.episodes}; the same for every encoder and split"
        )

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
        "rollout.seed_stride": config.rollout.seed_stride,
        "runtime.workers": config.runtime.workers,
        "runtime.threads_per_worker": config.runtime.threads_per_worker,
        "runtime.train_threads": config.runtime.train_threads,
        "bc.transform_width": config.bc.transform_width,
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
    if not config.bc.seeds or len(set(config.bc.seeds)) != len(config.bc.seeds) or min(config.bc.seeds) < 0:
        raise ValueError(f"bc.seeds: expected distinct seeds >= 0, at least one, got {config.bc.seeds}")
    if config.bc.std_floor <= 0 or (config.bc.input_clip is not None and config.bc.input_clip <= 0):
        raise ValueError(
            f"bc.std_floor / bc.input_clip: expected positive numbers (input_clip may be null), got "
            f"{config.bc.std_floor} / {config.bc.input_clip}"
        )
    if config.rollout.episode_seeds == "per_policy_seed" and config.rollout.episodes > config.rollout.seed_stride:
        raise ValueError(
            f"rollout.seed_stride: the episode seeds of two BC seeds would overlap ({config.rollout.episodes} "
            f"episodes, stride {config.rollout.seed_stride}); raise the stride"
        )
    if config.bc.select == "best" and config.demos.validation == 0:
        raise ValueError("bc.select: 'best' needs validation demos (demos.validation > 0); or set bc.select=last")
    calibration = config.calibration
    for task in calibration.candidates:
        get_task(task)
    if not calibration.roles or not set(calibration.roles) <= {"oracle", "blind", "random"}:
        raise ValueError(f"calibration.roles: expected some of [oracle, blind, random], got {calibration.roles}")
    for key in ("oracle_min", "random_max"):
        if not 0.0 <= getattr(calibration, key) <= 1.0:
            raise ValueError(f"calibration.{key}: expected a success rate in [0, 1], got {getattr(calibration, key)}")
    overlap = set(config.demo_seeds()) & set(config.all_episode_seeds())
    if overlap:
        raise ValueError(
            f"rollout.seed: evaluation seeds must differ from demonstration seeds; both use {sorted(overlap)[:5]}"
        )
    return config
