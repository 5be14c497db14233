"""The per-episode sums behind every probe row, so two encoders' scores can be compared episode by episode.

A probe score is a ratio of per-frame sums (:mod:`.scoring`), so what a resample needs is, per probe seed and
test episode, the sums of its numerator and denominator: squared errors, the constant predictor's squared
errors and valid entries (``score``, ``rmse_cm``), correct frames and frames (``accuracy``). ``episodes.json``
beside a probe ``results.json`` stores them with the test episodes' keys (task, episode seed), and
``dynaflip-report`` resamples the episodes and seeds of two encoders *together* (:func:`paired_difference`):
the test episodes are the same start states for every encoder, and probe seed s draws the same
train/validation split, so what they share cancels in the difference. A median row is the median over the
regression probes' scores of its split, recomputed per draw.

``episodes.json``::

    {"format": "dynaflip-probe-episodes/1", "seeds": S, "tasks": [task name per episode],
     "episode_seeds": [episode seed per episode],
     "rows": {"<group>/<split>/<metric>": {"error": [[S x E]], "baseline": .., "count": ..}   (score)
                                          {"error": .., "count": ..}                         (rmse_cm)
                                          {"correct": .., "frames": ..}                      (accuracy)
                                          {"median_of": ["<probe>/<split>/score", ...]}}}    (median)
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dynaflip.errors import DynaflipError
from dynaflip.io import atomic_write_json

from .bootstrap import DEFAULT_SAMPLES, ProbeBootstrap
from .metrics import ratio_score, squared_errors
from .targets import CLASSIFICATION, ProbeSpec

EPISODES_NAME = "episodes.json"
FORMAT = "dynaflip-probe-episodes/1"
SCORE, RMSE_CM, ACCURACY, MEDIAN = "score", "rmse_cm", "accuracy", "median"
PAIRED_METHOD = "95 % paired percentile bootstrap over test episodes (within each task) and probe seeds"


class EpisodeSumsError(DynaflipError, ValueError):
    """An episodes.json that cannot be read; the message names the file and the field."""


@dataclass
class EpisodeSums:
    """Per (probe seed, test episode) sums of every row of one probe run."""

    tasks: list[str]  # (E,) the task of each test episode
    episode_seeds: list[int]  # (E,)
    seeds: int
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # "group/split/metric" -> sums (S, E) arrays

    @property
    def keys(self) -> list[tuple[str, int]]:
        return list(zip(self.tasks, self.episode_seeds, strict=True))

    def to_json(self) -> dict[str, Any]:
        rows = {
            key: {name: value if name == "median_of" else np.asarray(value).tolist() for name, value in sums.items()}
            for key, sums in self.rows.items()
        }
        return {
            "format": FORMAT,
            "seeds": self.seeds,
            "tasks": self.tasks,
            "episode_seeds": self.episode_seeds,
            "rows": rows,
        }

    @classmethod
    def read(cls, path: str | Path) -> EpisodeSums:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise EpisodeSumsError(f"{path}: unreadable ({error})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise EpisodeSumsError(f"{path}: field 'format': expected {FORMAT!r}")
        try:
            tasks, episode_seeds = [str(t) for t in data["tasks"]], [int(s) for s in data["episode_seeds"]]
            seeds = int(data["seeds"])
            rows = {}
            for key, sums in data["rows"].items():
                rows[key] = {
                    name: list(value) if name == "median_of" else np.asarray(value, dtype=np.float64)
                    for name, value in sums.items()
                }
                shapes = {value.shape for name, value in rows[key].items() if name != "median_of"}
                if shapes - {(seeds, len(tasks)), (1, len(tasks))}:
                    raise ValueError(f"rows.{key}: expected ({seeds}, {len(tasks)}) arrays, got {sorted(shapes)}")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise EpisodeSumsError(f"{path}: malformed ({error})") from None
        if len(tasks) != len(episode_seeds):
            raise EpisodeSumsError(f"{path}: fields 'tasks' and 'episode_seeds' differ in length")
        return cls(tasks=tasks, episode_seeds=episode_seeds, seeds=seeds, rows=rows)

    def write(self, path: str | Path) -> Path:
        atomic_write_json(Path(path), self.to_json())
        return Path(path)


def episode_sums(
    predictions: dict[tuple[str, str], Any],
    *,
    probes: list[ProbeSpec],
    splits: list[str],
    plan: ProbeBootstrap,
    task_names: list[str],
    episode_keys: np.ndarray,
) -> EpisodeSums:
    """The sums of every (probe, split) in ``predictions`` (:class:`.scoring.SplitPredictions` by (probe name,
    result split)); ``episode_keys`` (E, 2) are the (task index, episode seed) of the plan's episodes."""
    rows: dict[str, dict[str, Any]] = {}
    for split in splits:
        scores = []
        for probe in probes:
            data = predictions.get((probe.name, split))
            if data is None or not data.predictions:
                continue
            if probe.kind == CLASSIFICATION:
                labels = np.asarray(data.target).reshape(-1)
                correct = np.stack([np.asarray(p).reshape(-1) == labels for p in data.predictions])
                rows[f"{probe.name}/{split}/{ACCURACY}"] = {
                    "correct": plan.episode_sums(correct),
                    "frames": plan.episode_sums(np.ones((1, len(labels)))),
                }
                continue
            errors, baselines, counts = [], [], []
            for prediction, mean in zip(data.predictions, data.train_means, strict=True):
                error, count = squared_errors(data.target, prediction, data.mask)
                reference = np.broadcast_to(np.asarray(mean, dtype=np.float64).reshape(1, -1), (len(error), len(mean)))
                baseline, _ = squared_errors(data.target, reference, data.mask)
                errors.append(error)
                baselines.append(baseline)
                counts.append(count)
            error, baseline, count = (plan.episode_sums(np.stack(v)) for v in (errors, baselines, counts))
            rows[f"{probe.name}/{split}/{SCORE}"] = {"error": error, "baseline": baseline, "count": count}
            scores.append(f"{probe.name}/{split}/{SCORE}")
            if probe.name in ("ee_pos", "object_pos"):
                rows[f"{probe.name}/{split}/{RMSE_CM}"] = {"error": error, "count": count}
        if scores:
            rows[f"{MEDIAN}/{split}/{SCORE}"] = {"median_of": scores}
    keys = np.asarray(episode_keys, dtype=np.int64).reshape(-1, 2)
    return EpisodeSums(
        tasks=[task_names[int(t)] if 0 <= int(t) < len(task_names) else str(int(t)) for t in keys[:, 0]],
        episode_seeds=[int(s) for s in keys[:, 1]],
        seeds=plan.seeds,
        rows=rows,
    )


def _per_seed(sums: EpisodeSums, key: str, counts: np.ndarray) -> np.ndarray:
    """Row ``key``'s statistic per (draw, seed): (B, S), each draw weighing the episodes by ``counts`` (B, E)."""
    drawn = {name: counts @ np.asarray(value, dtype=np.float64).T for name, value in sums.rows[key].items()}
    metric = key.rsplit("/", 1)[1]
    if metric == ACCURACY:
        return drawn["correct"] / np.maximum(drawn["frames"], 1.0)
    if metric == RMSE_CM:
        return 100 * np.sqrt(drawn["error"] / np.maximum(drawn["count"], 1.0))
    return ratio_score(drawn["error"], drawn["baseline"], count=drawn["count"])


def _statistic(sums: EpisodeSums, key: str, counts: np.ndarray, seed_draws: np.ndarray) -> np.ndarray:
    """Row ``key`` per draw (B,): the mean over the drawn seeds (B, S) of the statistic on the drawn episodes;
    a median row is the median over its probes of theirs, as :func:`.scoring.median_estimate` makes it."""
    parts = sums.rows[key].get("median_of")
    if parts is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices stay NaN
            return np.nanmedian(np.stack([_statistic(sums, part, counts, seed_draws) for part in parts]), axis=0)
    per_seed = _per_seed(sums, key, counts)
    return np.take_along_axis(per_seed, np.broadcast_to(seed_draws, (len(per_seed), seed_draws.shape[1])), 1).mean(1)


def point(sums: EpisodeSums, key: str) -> float:
    """Row ``key``'s value as the probe run reports it: from all test episodes and every seed once."""
    everything = np.ones((1, len(sums.tasks)))
    return float(_statistic(sums, key, everything, np.arange(sums.seeds)[None, :])[0])


def why_not_paired(first: EpisodeSums, second: EpisodeSums, key: str) -> str | None:
    """Why two runs' row ``key`` cannot be compared episode by episode, or None when it can."""
    if key not in first.rows or key not in second.rows:
        return f"no episode sums for {key}"
    if first.keys != second.keys:
        return "the two runs were scored on different test episodes"
    if first.seeds != second.seeds:
        return f"the two runs have different probe seeds ({first.seeds} and {second.seeds})"
    return None


@dataclass(frozen=True)
class PairedDifference:
    """``first`` minus ``second`` on one row: the point difference and its interval, or why there is none."""

    estimate: float
    low: float
    high: float
    method: str
    n: dict[str, int]


def paired_difference(
    first: EpisodeSums,
    second: EpisodeSums,
    terms: str | list[tuple[str, float]],
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """The difference between two runs on the same test episodes and probe seeds of a row (``terms`` a row key)
    or of a weighted sum of rows (``terms`` [(key, weight)], e.g. the mean over shifts), with the 95 %
    percentile interval of one set of draws applied to both: episodes within each task, and seeds, resampled
    together. Raises ValueError when the runs cannot be paired (:func:`why_not_paired`)."""
    terms = [(terms, 1.0)] if isinstance(terms, str) else list(terms)
    for key, _ in terms:
        reason = why_not_paired(first, second, key)
        if reason:
            raise ValueError(reason)
    names = {name: index for index, name in enumerate(dict.fromkeys(first.tasks))}
    plan = ProbeBootstrap.plan(
        task=np.array([names[t] for t in first.tasks]),
        episode_seed=np.array(first.episode_seeds),
        seeds=first.seeds,
        samples=samples,
        seed=seed,
    )
    # The plan numbers episodes in sorted (task, episode seed) order; reorder its counts to the stored order.
    counts = plan.counts[:, plan.episode_of_frame]

    def combined(sums: EpisodeSums) -> np.ndarray:
        return sum(weight * _statistic(sums, key, counts, plan.seed_draws) for key, weight in terms)

    estimate = math.fsum(weight * (point(first, key) - point(second, key)) for key, weight in terms)
    draws = combined(first) - combined(second)
    low, high, why = plan.interval(draws)
    if math.isnan(estimate):
        low = high = math.nan
        why = why or "the statistic is undefined on this split"
    return PairedDifference(estimate, low, high, f"no interval: {why}" if why else PAIRED_METHOD, plan.n)
