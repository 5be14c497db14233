"""Real result folders for dynaflip-report tests.

- :func:`write_policy`: a policy folder as dynaflip-policy writes it: results.json (rows from the real
  aggregation, :func:`success_rows`) and rollouts.jsonl (one :class:`RolloutRecord` per episode), from given
  per-episode outcomes.
- :func:`write_pair`: an older layout (results.json only, rows aggregated the pre-bootstrap way: Wilson per
  task, Student-t over seeds for the mean) plus a probe result with "r2"/"mse" rows, for the fallbacks.
"""

import json
from pathlib import Path

import numpy as np

from dynaflip.eval.encoders import load_eval_encoder
from dynaflip.eval.policy.aggregate import success_rows
from dynaflip.eval.policy.rollout import RolloutRecord
from dynaflip.eval.results import ResultRow, encoder_summary, write_results
from dynaflip.eval.stats import EpisodeOutcomes, wilson_interval

TINY = "random:vit_tiny_patch16_224?img_size=32&patch_size=8&depth=1&embed_dim=48&num_heads=3"
SPECS = (f"{TINY}&seed=0", f"{TINY}&seed=1")  # same architecture and name, different weights
SPLITS = ("id", "lighting", "occlusion")
TASKS = ("reach-v3", "button-press-topdown-v3")
CALIBRATION = {
    "oracle:state": {"name": "oracle (state)", "spec": "oracle:state", "identity": "oracle-state", "parameters": 0},
    "blind": {"name": "blind", "spec": "blind", "identity": "blind-proprio", "parameters": 0},
}


def tiny_encoder(spec: str) -> dict:
    return encoder_summary(load_eval_encoder(spec))


def records_from(outcomes: EpisodeOutcomes) -> list[RolloutRecord]:
    """One record per (split, task, seed, episode) of ``outcomes``."""
    records = []
    for p, split in enumerate(outcomes.splits):
        for t, task in enumerate(outcomes.tasks):
            for s, seed in enumerate(outcomes.seeds):
                for e, episode in enumerate(outcomes.episode_seeds[t, s]):
                    success = bool(outcomes.success[p, t, s, e])
                    steps = 40 if success else 120
                    records.append(
                        RolloutRecord(task, split, seed, int(episode), success, steps, steps if success else None, 0.5)
                    )
    return records


def make_outcomes(
    rates: np.ndarray, *, episode_seeds: np.ndarray, splits=SPLITS, tasks=TASKS, shared: np.ndarray | None = None
) -> EpisodeOutcomes:
    """Outcomes with success probability ``rates`` (splits, tasks) per episode: an episode succeeds when its
    ``shared`` uniform draw (splits, tasks, seeds, episodes; common to encoders: correlated outcomes) is below
    the rate."""
    seeds = tuple(range(episode_seeds.shape[1]))
    success = (shared < np.asarray(rates)[:, :, None, None]).astype(np.float64)
    return EpisodeOutcomes(tuple(splits), tuple(tasks), seeds, episode_seeds, success)


def write_policy(root: Path, *, encoder: dict, outcomes: EpisodeOutcomes, rollouts: bool = True) -> Path:
    """ROOT/results.json (+ ROOT/rollouts.jsonl) of ``encoder`` as dynaflip-policy writes them."""
    records = records_from(outcomes)
    rows = success_rows(records, tasks=outcomes.tasks, splits=outcomes.splits, seeds=outcomes.seeds)
    config = {"seeds": list(outcomes.seeds), "tasks": list(outcomes.tasks), "splits": list(outcomes.splits)}
    path = write_results(
        root / "results.json",
        kind="policy",
        encoder=encoder,
        config=config,
        rows=rows,
        timing={"seconds": 12.5, "rollouts_per_second": 0.8},
    )
    if rollouts:
        (root / "rollouts.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    return path


def policy_rows(success: dict[tuple[str, str], list[float]], *, episodes: int = 10) -> list[ResultRow]:
    """Rows from per-seed success rates per (task, split), aggregated the pre-bootstrap way."""
    rows = []
    for split in SPLITS:
        for task in TASKS:
            rates = success[(task, split)]
            rate, low, high = wilson_interval(round(sum(rates) * episodes), episodes * len(rates))
            rows.append(
                ResultRow(group=task, split=split, metric="success", mean=rate, low=low, high=high, values=rates)
            )
        per_seed = [sum(values) / len(TASKS) for values in zip(*(success[(t, split)] for t in TASKS), strict=True)]
        rows.append(ResultRow.from_values(group="mean", split=split, metric="success", values=per_seed))
    return rows


def probe_rows(r2: dict[tuple[str, str], list[float]]) -> list[ResultRow]:
    rows = []
    for (probe, split), values in r2.items():
        rows.append(ResultRow.from_values(group=probe, split=split, metric="r2", values=values))
        mse = [1.0 - value for value in values]
        rows.append(ResultRow.from_values(group=probe, split=split, metric="mse", values=mse))
    return rows


def write_pair(root: Path, *, spec: str, success: dict, r2: dict, policy_seeds: list[int]) -> dict:
    """Write ROOT/policy/results.json (older layout, no rollouts.jsonl) and ROOT/probe/results.json."""
    encoder = tiny_encoder(spec)
    write_results(
        root / "policy" / "results.json",
        kind="policy",
        encoder=encoder,
        config={"seeds": policy_seeds, "tasks": list(TASKS)},
        rows=policy_rows(success),
        timing={"seconds": 12.5, "rollouts_per_second": 0.8},
    )
    write_results(
        root / "probe" / "results.json",
        kind="probe",
        encoder=encoder,
        config={"seeds": 3},
        rows=probe_rows(r2),
        timing={"seconds": 3.0},
    )
    return encoder
