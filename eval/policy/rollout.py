"""One evaluation episode: render, act, step until the environment reports success or the horizon ends.

Shifts are applied to the simulator's renders only (see :mod:`dynaflip.sim.shifts`); the physics of a
shifted episode is the in-distribution one, so any change in success comes from what the policy sees.
An actor whose ``needs_image`` is False (the state calibration rows) is never rendered for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from .config import ID_SPLIT
from .features import PolicyEncoder
from .model import BCPolicy

# act(sim, rgb) -> (4,) action: rgb is the (H, W, 3) uint8 frame rendered for the current state, or None
# for an actor with ``needs_image = False``.
Actor = Callable[[Any, np.ndarray | None], np.ndarray]


@dataclass
class RolloutRecord:
    """The outcome of one episode. ``policy_seed`` is the BC seed (-1 for the scripted expert)."""

    task: str
    split: str
    policy_seed: int
    episode_seed: int
    success: bool  # the environment reported success at some step (the protocol's episode success)
    steps: int
    success_step: int | None  # 1-based step of the first success
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)


def expert_actor(sim: Any, rgb: np.ndarray) -> np.ndarray:
    """Meta-World's scripted expert (ignores the frame): the upper bound of a split."""
    return sim.expert_action()


class PolicyActor:
    """A BC policy on frozen-encoder features of the current frame (or, for a state encoder, of the
    simulator's observation) and the robot's proprioception."""

    def __init__(self, encoder: PolicyEncoder, policy: BCPolicy, *, device: str | torch.device = "cpu") -> None:
        self.encoder = encoder
        self.policy = policy.to(device).eval()
        self.device = device
        self.needs_image = encoder.needs_image
        if self.needs_image:
            encoder.to(device)

    def __call__(self, sim: Any, rgb: np.ndarray | None) -> np.ndarray:
        if self.needs_image:
            features = self.encoder.features(rgb[None], batch_size=1, device=self.device)
        else:
            features = self.encoder.state_features(sim.observation()[None])
        return self.policy.act(features[0], sim.proprioception())


def run_episode(
    sim: Any,
    act: Actor,
    *,
    episode_seed: int,
    split: str = ID_SPLIT,
    policy_seed: int = -1,
) -> RolloutRecord:
    """Reset ``sim`` to ``episode_seed``, apply the split's shift (drawn with the episode seed) and run
    ``act`` for at most ``sim.max_steps`` steps, rendering every step (unless ``act.needs_image`` is False);
    stops at the first success."""
    started = time.perf_counter()
    sim.reset(seed=episode_seed)
    sim.set_shift(None if split == ID_SPLIT else split, seed=episode_seed)
    render = getattr(act, "needs_image", True)
    success_step = None
    steps = 0
    for _ in range(sim.max_steps):
        rgb = sim.render(with_depth=False).rgb if render else None
        info = sim.step(act(sim, rgb))[-1]
        steps += 1
        if info["success"]:
            success_step = steps
            break
    return RolloutRecord(
        task=sim.task.name,
        split=split,
        policy_seed=int(policy_seed),
        episode_seed=int(episode_seed),
        success=success_step is not None,
        steps=steps,
        success_step=success_step,
        seconds=time.perf_counter() - started,
    )
