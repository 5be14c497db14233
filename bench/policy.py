"""Policy rollout speed: the rollout path before this change against now, in one process.

  before  the old per-step path: every step moved the encoder (``module.to(device).eval()``) and fed the MLP
          unclipped standardised inputs (what eval/policy/rollout.py and eval/encoders.py did)
  now     :class:`~dynaflip.eval.policy.PolicyActor`: the encoder placed once, standardised inputs clipped
  oracle  the ``oracle:state`` calibration row: no frame is rendered or encoded (physics + MLP only)

The same BC policy weights (untrained, so episodes run to the horizon), task, episodes, image size and encoder
for all; rounds alternate (before, now, oracle, before, ...) so a slow phase of this noisy machine hits them
alike. Prints rollouts/s and steps/s of each and the ratios against ``before``. Rendering and physics are the
same in both image paths, so the whole-rollout ratio is mostly noise here; the script also times the part
that changed, one actor step on a fixed frame, in alternating blocks.

    .venv/bin/python bench/policy.py                      # tiny ViT (depth 6, patch 8) at 64 px, horizon 60
    .venv/bin/python bench/policy.py --size 96 --episodes 3 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from dynaflip.eval.policy import BCPolicy, PolicyActor, run_episode
from dynaflip.eval.policy.features import open_encoder
from dynaflip.sim import MetaWorldSim

ENCODER = "random:vit_tiny_patch16_224?img_size={size}&patch_size=8&depth=6"


class BeforeActor:
    """The rollout step as it was: the encoder moved to the device on every call, no input clipping."""

    def __init__(self, encoder, policy: BCPolicy, *, device: str = "cpu") -> None:
        self.encoder, self.policy, self.device = encoder, policy.to(device).eval(), device

    @torch.no_grad()
    def __call__(self, sim, rgb: np.ndarray) -> np.ndarray:
        self.encoder.module.to(self.device).eval()  # was in EvalEncoder.features(), called every step
        batch = self.encoder.preprocess(rgb[None]).to(self.device)
        features = self.encoder._forward(batch).float().cpu().numpy()
        row = np.concatenate([features[0], sim.proprioception()]).astype(np.float32)
        inputs = torch.from_numpy(row)[None]
        policy = self.policy
        action = policy.mlp((inputs - policy.input_mean) / policy.input_std)[0].numpy()  # unclipped inputs
        return np.clip(action, -1.0, 1.0)


def _policy(feature_dim: int, *, seed: int = 0) -> BCPolicy:
    torch.manual_seed(seed)
    policy = BCPolicy(feature_dim=feature_dim)
    policy.set_standardisation(torch.randn(256, feature_dim + 4))
    return policy.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="button-press-topdown-v3")
    parser.add_argument("--size", type=int, default=64, help="render size (px)")
    parser.add_argument("--horizon", type=int, default=60)
    parser.add_argument("--episodes", type=int, default=2, help="episodes per actor and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a rollout worker uses 1)")
    parser.add_argument("--blocks", type=int, default=20, help="alternating blocks of the actor-step timing")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    image_encoder = open_encoder(ENCODER.format(size=args.size))
    oracle = open_encoder("oracle:state")
    feature_dim = image_encoder.features(np.zeros((1, args.size, args.size, 3), np.uint8)).shape[1]
    image_policy, oracle_policy = _policy(feature_dim), _policy(oracle.feature_dim)
    actors = {
        "before": BeforeActor(image_encoder, image_policy),
        "now": PolicyActor(image_encoder, image_policy),
        "oracle": PolicyActor(oracle, oracle_policy),
    }
    seconds: dict[str, list[float]] = {name: [] for name in actors}
    steps: dict[str, int] = dict.fromkeys(actors, 0)
    with MetaWorldSim(args.task, seed=10_000, image_size=(args.size, args.size), max_steps=args.horizon) as sim:
        run_episode(sim, actors["now"], episode_seed=10_000)  # warm-up: GL context, first forward
        for _ in range(args.rounds):
            for name, actor in actors.items():
                started = time.perf_counter()
                for episode in range(args.episodes):
                    steps[name] += run_episode(sim, actor, episode_seed=10_000 + episode).steps
                seconds[name].append(time.perf_counter() - started)
    print(
        f"{args.task}, {ENCODER.format(size=args.size)}, {args.size} px, horizon {args.horizon}, "
        f"{args.episodes} episodes x {args.rounds} rounds per actor, {args.threads} torch thread(s)"
    )
    base_rate = None
    print("whole rollouts (render + encoder + MLP + physics):")
    for name in actors:
        per_round = statistics.median(seconds[name])
        rate = args.episodes / per_round
        steps_per_second = steps[name] / sum(seconds[name])
        base_rate = base_rate or rate
        print(f"{name:<8} {rate:7.3f} rollouts/s  {steps_per_second:8.1f} steps/s  x{rate / base_rate:5.2f} vs before")
    print(f"one actor step on a fixed {args.size} px frame, median of {args.blocks} alternating blocks of 50:")
    step_seconds = _actor_steps({name: actors[name] for name in ("before", "now")}, sim_args=args, blocks=args.blocks)
    for name, seconds_per_step in step_seconds.items():
        ratio = step_seconds["before"] / seconds_per_step
        print(f"{name:<8} {1000 * seconds_per_step:7.2f} ms per step  x{ratio:5.2f} steps/s vs before")
    return 0


def _actor_steps(actors: dict, *, sim_args: argparse.Namespace, blocks: int, calls: int = 50) -> dict[str, float]:
    """Median seconds per actor call over alternating blocks of ``calls`` calls on one rendered frame."""
    size = (sim_args.size, sim_args.size)
    times: dict[str, list[float]] = {name: [] for name in actors}
    with MetaWorldSim(sim_args.task, seed=10_000, image_size=size) as sim:
        rgb = sim.render(with_depth=False).rgb
        for actor in actors.values():
            actor(sim, rgb)  # warm-up
        for _ in range(blocks):
            for name, actor in actors.items():
                started = time.perf_counter()
                for _ in range(calls):
                    actor(sim, rgb)
                times[name].append((time.perf_counter() - started) / calls)
    return {name: statistics.median(values) for name, values in times.items()}


if __name__ == "__main__":
    raise SystemExit(main())
