"""Splits by episode: which seeds are train / val / test, and the per-seed re-drawn train/val partition.

Every split holds whole episodes, so frames of one episode never straddle a split (neighbouring frames
are near-duplicates; splitting frames would leak). Episode i of a task has seed ``seed + i``; per task,
the first seeds train, the next validate, the last test. OOD splits re-render the test episodes.
"""

from __future__ import annotations

import numpy as np

TRAIN, VAL, TEST_ID = "train", "val", "test-id"
OOD_PREFIX = "test-"


def ood_split(shift: str) -> str:
    """Dataset split name of an OOD shift ('test-camera', ...)."""
    return f"{OOD_PREFIX}{shift}"


def result_split(split: str) -> str:
    """The ResultRow split of a dataset split: 'id' for test-id, the shift name for test-<shift>."""
    if split == TEST_ID:
        return "id"
    if split.startswith(OOD_PREFIX):
        return split[len(OOD_PREFIX) :]
    raise ValueError(f"split: {split!r} is not a test split")


def plan_episodes(
    tasks: list[str], *, episodes_per_task: int, val_episodes: int, test_episodes: int, seed: int
) -> dict[str, list[tuple[str, int]]]:
    """(task, episode seed) pairs of the train, val and test-id splits."""
    train_episodes = episodes_per_task - val_episodes - test_episodes
    if val_episodes < 1 or test_episodes < 1 or train_episodes < 1:
        raise ValueError(
            f"--episodes-per-task: {episodes_per_task} leaves {train_episodes} train episodes per task after "
            f"{val_episodes} val and {test_episodes} test (expected >= 1 of each)"
        )
    plan: dict[str, list[tuple[str, int]]] = {TRAIN: [], VAL: [], TEST_ID: []}
    bounds = {TRAIN: (0, train_episodes), VAL: (train_episodes, train_episodes + val_episodes)}
    bounds[TEST_ID] = (train_episodes + val_episodes, episodes_per_task)
    for split, (start, stop) in bounds.items():
        plan[split] = [(task, seed + index) for task in tasks for index in range(start, stop)]
    return plan


def partition(
    task: np.ndarray, episode_seed: np.ndarray, *, stored_val: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices (train, val) of the pooled train+val frames for probe seed ``seed``.

    Seed 0 keeps the stored partition (``stored_val``: a bool per frame); other seeds re-draw, per task, which
    episodes validate (as many as stored), so the interval over seeds covers the choice of episodes too.
    """
    episodes = np.stack([task, episode_seed], axis=1)
    if seed == 0:
        val = np.asarray(stored_val, dtype=bool)
    else:
        rng = np.random.default_rng([int(seed), 0x9E0B])
        val = np.zeros(len(task), dtype=bool)
        for task_index in np.unique(task):
            own = episodes[task == task_index]
            seeds = np.unique(own[:, 1])
            count = len(np.unique(own[np.asarray(stored_val)[task == task_index], 1]))
            chosen = rng.choice(seeds, size=count, replace=False)
            val |= (task == task_index) & np.isin(episode_seed, chosen)
    return np.flatnonzero(~val), np.flatnonzero(val)
