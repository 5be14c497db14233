"""Per-episode outcomes of one encoder as a balanced array: success[split, task, seed, episode].

The unit the statistics resample is the episode of a (task, BC seed); an episode is named by its
(task, policy_seed, episode_seed) and is rolled out once per split (the shifts re-render the same episode).
Two encoders evaluated on the same keys are *paired*: episode (t, s, e) of one and of the other start from
the same state. Within a task the design is *nested* when each BC seed has its own episode seeds and
*crossed* when every BC seed rolls out the same ones (then an episode's difficulty is shared across seeds,
and the bootstrap resamples episodes jointly for all seeds).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dynaflip.errors import DynaflipError

NESTED = "nested"
CROSSED = "crossed"
FIELDS = ("task", "split", "policy_seed", "episode_seed", "success")


class DesignError(DynaflipError, ValueError):
    """The records do not form a balanced (task x seed x episode) design in every split; the message says how."""


def _field(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


@dataclass(frozen=True)
class EpisodeOutcomes:
    """``success`` (splits, tasks, seeds, episodes) in {0, 1}; ``episode_seeds`` (tasks, seeds, episodes)."""

    splits: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    episode_seeds: np.ndarray
    success: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """(tasks, seeds, episodes per task and seed)."""
        return tuple(self.episode_seeds.shape)  # type: ignore[return-value]

    @property
    def design(self) -> str:
        """CROSSED when, in every task, all BC seeds roll out the same episode seeds; else NESTED."""
        same = (self.episode_seeds == self.episode_seeds[:, :1, :]).all()
        return CROSSED if self.shape[1] > 1 and bool(same) else NESTED

    @property
    def n(self) -> dict[str, int]:
        tasks, seeds, episodes = self.shape
        return {"tasks": tasks, "seeds": seeds, "episodes": episodes}

    def split(self, name: str) -> np.ndarray:
        """success (tasks, seeds, episodes) of one split."""
        return self.success[self.splits.index(name)]

    def pairs_with(self, other: EpisodeOutcomes) -> bool:
        """True when both were evaluated on the same (task, seed, episode) keys, slot for slot."""
        return (
            self.tasks == other.tasks
            and self.seeds == other.seeds
            and self.episode_seeds.shape == other.episode_seeds.shape
            and bool((self.episode_seeds == other.episode_seeds).all())
        )

    @classmethod
    def from_records(
        cls,
        records: Iterable[Any],
        *,
        tasks: Sequence[str] | None = None,
        splits: Sequence[str] | None = None,
        seeds: Sequence[int] | None = None,
    ) -> EpisodeOutcomes:
        """Arrange rollout records (objects or mappings with :data:`FIELDS`) by split, task, seed, episode seed.

        ``tasks``, ``splits`` and ``seeds`` fix the order (default: as first seen); raises :class:`DesignError`
        when a (task, split, seed) has no rollouts, a key is repeated, the splits of a (task, seed) rolled out
        different episodes, or the (task, seed) cells have different episode counts.
        """
        outcome: dict[tuple[str, str, int, int], bool] = {}
        seen_tasks: dict[str, None] = {}
        seen_splits: dict[str, None] = {}
        seen_seeds: dict[int, None] = {}
        for record in records:
            key = (
                str(_field(record, "task")),
                str(_field(record, "split")),
                int(_field(record, "policy_seed")),
                int(_field(record, "episode_seed")),
            )
            if key in outcome:
                raise DesignError(f"episode {key} (task, split, policy_seed, episode_seed) is recorded twice")
            outcome[key] = bool(_field(record, "success"))
            seen_tasks.setdefault(key[0], None)
            seen_splits.setdefault(key[1], None)
            seen_seeds.setdefault(key[2], None)
        if not outcome:
            raise DesignError("no rollout records")
        tasks = list(tasks if tasks is not None else seen_tasks)
        splits = list(splits if splits is not None else seen_splits)
        seeds = [int(seed) for seed in (seeds if seeds is not None else seen_seeds)]
        episodes: dict[tuple[str, str, int], list[int]] = defaultdict(list)
        for task, split, seed, episode in outcome:
            episodes[(task, split, seed)].append(episode)
        layout = np.zeros((len(tasks), len(seeds)), dtype=object)
        for t, task in enumerate(tasks):
            for s, seed in enumerate(seeds):
                lists = []
                for split in splits:
                    found = episodes.get((task, split, seed))
                    if not found:
                        raise DesignError(f"no rollouts of task {task!r}, split {split!r}, seed {seed}")
                    lists.append(sorted(found))
                if any(found != lists[0] for found in lists[1:]):
                    raise DesignError(f"task {task!r}, seed {seed}: the splits rolled out different episode seeds")
                layout[t, s] = lists[0]
        counts = {len(cell) for cell in layout.ravel()}
        if len(counts) > 1:
            raise DesignError(f"unbalanced: the (task, seed) cells have {sorted(counts)} episodes each")
        episode_seeds = np.array(layout.tolist(), dtype=np.int64).reshape(len(tasks), len(seeds), counts.pop())
        success = np.zeros((len(splits), *episode_seeds.shape), dtype=np.float64)
        for p, split in enumerate(splits):
            for t, task in enumerate(tasks):
                for s, seed in enumerate(seeds):
                    success[p, t, s] = [outcome[(task, split, seed, int(e))] for e in episode_seeds[t, s]]
        return cls(tuple(splits), tuple(tasks), tuple(seeds), episode_seeds, success)
