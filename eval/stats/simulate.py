"""Synthetic per-episode outcomes of two encoders with a known true difference, correlated like real ones.

A probit model: episode (t, s, e) of encoder k succeeds when a_{k,t} + u + w_k + v_{k,t,s} + noise > 0, with
standard normal total noise, so its success probability is exactly Phi(a_{k,t}). u is the episode's difficulty
(its start state), shared by both encoders and, in a crossed design, by every BC seed; w_k is the encoder's
own reaction to that episode (shared across its seeds in a crossed design); v is the BC seed's (the run's)
offset on the task; the rest is per-rollout noise. The variances are set from the phi correlations of binary
outcomes at a 50 % rate, phi = (2 / pi) * asin(rho): ``encoder_correlation`` between the two encoders on the
same episode (0.68 measured on this project's rollouts) and ``seed_correlation`` between two BC seeds of one
encoder on the same episode (0.82 measured).

The true difference of mean success (first minus second) is ``difference`` on every task, the estimand of the
stratified bootstrap (tasks fixed; seeds and episodes drawn from their populations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from .episodes import CROSSED, NESTED, EpisodeOutcomes

SPLIT = "id"


@dataclass(frozen=True)
class Variances:
    """Latent variance components (they sum to 1)."""

    episode: float
    encoder_episode: float
    run: float
    noise: float


def variances(*, encoder_correlation: float, seed_correlation: float, run_share: float) -> Variances:
    """Components giving the two phi correlations; ``run_share`` of the rest is the BC seed's offset."""
    if not 0 <= encoder_correlation <= seed_correlation < 1 or not 0 <= run_share <= 1:
        raise ValueError("expected 0 <= encoder_correlation <= seed_correlation < 1 and 0 <= run_share <= 1")
    shared, own = (math.sin(math.pi / 2 * phi) for phi in (encoder_correlation, seed_correlation))
    rest = 1.0 - own
    return Variances(episode=shared, encoder_episode=own - shared, run=run_share * rest, noise=(1 - run_share) * rest)


@dataclass(frozen=True)
class SimulatedStudy:
    first: EpisodeOutcomes
    second: EpisodeOutcomes
    true_difference: float


def simulate_study(
    rng: np.random.Generator,
    *,
    second_rates: Sequence[float] = (0.4, 0.55, 0.7),
    difference: float = 0.1,
    seeds: int = 3,
    episodes: int = 25,
    design: str = NESTED,
    encoder_correlation: float = 0.68,
    seed_correlation: float = 0.8,
    run_share: float = 0.4,
) -> SimulatedStudy:
    """One study: both encoders on the same (task, seed, episode) keys; the first's true success rate on task t
    is ``second_rates[t] + difference``."""
    if design not in (NESTED, CROSSED):
        raise ValueError(f"design: expected {NESTED!r} or {CROSSED!r}, got {design!r}")
    rates = np.array([[rate + difference for rate in second_rates], list(second_rates)])
    if not ((rates > 0) & (rates < 1)).all():
        raise ValueError("second_rates + difference: every true rate must lie in (0, 1)")
    parts = variances(encoder_correlation=encoder_correlation, seed_correlation=seed_correlation, run_share=run_share)
    tasks = len(second_rates)
    location = np.vectorize(NormalDist().inv_cdf)(rates)[:, :, None, None]  # (2, T, 1, 1)
    shared_seeds = 1 if design == CROSSED else seeds
    latent = (
        location
        + math.sqrt(parts.episode) * rng.standard_normal((1, tasks, shared_seeds, episodes))
        + math.sqrt(parts.encoder_episode) * rng.standard_normal((2, tasks, shared_seeds, episodes))
        + math.sqrt(parts.run) * rng.standard_normal((2, tasks, seeds, 1))
        + math.sqrt(parts.noise) * rng.standard_normal((2, tasks, seeds, episodes))
    )
    success = (latent > 0).astype(np.float64)
    offsets = np.zeros((tasks, seeds, 1), dtype=np.int64) if design == CROSSED else np.arange(seeds)[None, :, None]
    episode_seeds = 10_000 + offsets * episodes + np.arange(episodes)[None, None, :]
    episode_seeds = np.broadcast_to(episode_seeds, (tasks, seeds, episodes)).copy()
    names = tuple(f"task-{t}" for t in range(tasks))
    first, second = (
        EpisodeOutcomes((SPLIT,), names, tuple(range(seeds)), episode_seeds, success[k][None]) for k in range(2)
    )
    return SimulatedStudy(first, second, float(rates[0].mean() - rates[1].mean()))
