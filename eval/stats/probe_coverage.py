"""How often the paired interval of a probe gain (two encoders, the same test episodes and probe seeds) covers
the true gain, on simulated probe results; and how often the old paired t over seeds did.

A probit model of the task probe's per-frame correctness: frame f of test episode e (task t) is classified
correctly by encoder k's probe of seed s when a_{k,t} + u_e + w_{k,e} + z_s + v_{k,s} + noise > 0, with unit
total variance, so encoder k's true accuracy on task t is exactly Phi(a_{k,t}). u is the episode's difficulty
(shared by both encoders: the same start state), w the encoder's own reaction to it, z the probe seed's
train/validation split (shared by both encoders: seed s draws the same split), v the seed's own effect on one
encoder's probe, the rest per frame: mostly the frame's own difficulty for the encoder's features (shared
by its probe seeds, which fit one linear read-out of the same features), a little per seed. The true gain is
``difference`` on every task. Example:

  python -m dynaflip.eval.stats.probe_coverage --studies 200
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from ..probe.sums import ACCURACY, EpisodeSums, paired_difference
from .intervals import t_interval

KEY = f"task/id/{ACCURACY}"


@dataclass(frozen=True)
class ProbeStudy:
    first: EpisodeSums
    second: EpisodeSums
    true_difference: float


def simulate_probe_study(
    rng: np.random.Generator,
    *,
    second_rates: tuple[float, ...] = (0.5, 0.65, 0.8),
    difference: float = 0.1,
    episodes: int = 6,
    seeds: int = 3,
    frames: int = 12,
    episode_share: float = 0.35,
    encoder_episode_share: float = 0.15,
    seed_share: float = 0.02,
    encoder_seed_share: float = 0.002,
    frame_seed_share: float = 0.02,
) -> ProbeStudy:
    """Two encoders' episode sums of the task probe on ``episodes`` test episodes per task (see the module)."""
    shares = (episode_share, encoder_episode_share, seed_share, encoder_seed_share, frame_seed_share)
    if min(shares) < 0 or sum(shares) >= 1:
        raise ValueError("expected variance shares >= 0 summing to < 1")
    rates = np.array([[rate + difference for rate in second_rates], list(second_rates)])
    if not ((rates > 0) & (rates < 1)).all():
        raise ValueError("second_rates + difference: every true rate must lie in (0, 1)")
    tasks = len(second_rates)
    location = np.vectorize(NormalDist().inv_cdf)(rates)  # (2, T)
    noise = 1.0 - sum(shares)
    latent = (
        location[:, None, :, None, None]  # (2, S, T, E, F)
        + math.sqrt(episode_share) * rng.standard_normal((1, 1, tasks, episodes, 1))
        + math.sqrt(encoder_episode_share) * rng.standard_normal((2, 1, tasks, episodes, 1))
        + math.sqrt(seed_share) * rng.standard_normal((1, seeds, 1, 1, 1))
        + math.sqrt(encoder_seed_share) * rng.standard_normal((2, seeds, 1, 1, 1))
        + math.sqrt(noise) * rng.standard_normal((2, 1, tasks, episodes, frames))
        + math.sqrt(frame_seed_share) * rng.standard_normal((2, seeds, tasks, episodes, frames))
    )
    correct = (latent > 0).sum(axis=-1).reshape(2, seeds, tasks * episodes).astype(np.float64)
    names = [f"task-{t}" for t in range(tasks) for _ in range(episodes)]
    episode_seeds = [1000 * t + e for t in range(tasks) for e in range(episodes)]
    frame_counts = np.full((1, tasks * episodes), float(frames))
    first, second = (
        EpisodeSums(
            tasks=names,
            episode_seeds=episode_seeds,
            seeds=seeds,
            rows={KEY: {"correct": correct[k], "frames": frame_counts}},
        )
        for k in range(2)
    )
    return ProbeStudy(first, second, float(rates[0].mean() - rates[1].mean()))


@dataclass(frozen=True)
class ProbeCoverage:
    studies: int
    paired_coverage: float  # the paired bootstrap over test episodes and probe seeds
    seed_t_coverage: float  # the old paired t over per-seed differences
    paired_width: float
    seed_t_width: float


def probe_coverage_study(
    *, studies: int = 200, samples: int = 1000, seed: int = 0, difference: float = 0.1, **simulation
) -> ProbeCoverage:
    rng = np.random.default_rng(seed)
    covered, t_covered, widths, t_widths = 0, 0, [], []
    for index in range(studies):
        study = simulate_probe_study(rng, difference=difference, **simulation)
        paired = paired_difference(study.first, study.second, KEY, samples=samples, seed=seed + index)
        covered += int(paired.low <= study.true_difference <= paired.high)
        widths.append(paired.high - paired.low)
        per_seed = [
            a / f - b / f
            for a, b, f in zip(
                study.first.rows[KEY]["correct"].sum(axis=1),
                study.second.rows[KEY]["correct"].sum(axis=1),
                np.full(study.first.seeds, study.first.rows[KEY]["frames"].sum()),
                strict=True,
            )
        ]
        t = t_interval(per_seed)
        t_covered += int(t.has_interval and t.low <= study.true_difference <= t.high)
        t_widths.append(t.high - t.low if t.has_interval else 0.0)
    return ProbeCoverage(
        studies=studies,
        paired_coverage=covered / studies,
        seed_t_coverage=t_covered / studies,
        paired_width=float(np.mean(widths)),
        seed_t_width=float(np.mean(t_widths)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynaflip.eval.stats.probe_coverage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--samples", type=int, default=1000, help="bootstrap draws per study")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=6, help="test episodes per task")
    parser.add_argument("--seeds", type=int, default=3, help="probe seeds")
    parser.add_argument("--difference", type=float, default=0.1, help="true gain in accuracy")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    result = probe_coverage_study(
        studies=args.studies,
        samples=args.samples,
        seed=args.seed,
        difference=args.difference,
        episodes=args.episodes,
        seeds=args.seeds,
    )
    if args.json:
        print(json.dumps(asdict(result)))
        return 0
    print(
        f"{result.studies} simulated probe studies (3 tasks x {args.episodes} test episodes x {args.seeds} probe "
        f"seeds, true gain {args.difference:+.3f}): coverage of 95 % intervals: paired bootstrap over episodes "
        f"and seeds {result.paired_coverage:.3f} (mean width {result.paired_width:.3f}), paired t over seeds "
        f"{result.seed_t_coverage:.3f} (mean width {result.seed_t_width:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
