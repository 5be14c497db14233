"""The per-episode outcomes behind a policy results.json: its sibling rollouts.jsonl, one JSON line per episode
(task, split, policy_seed, episode_seed, success, ...).

A line that is not JSON or lacks a field is skipped and counted. When the file is missing, or the episodes
left do not form a balanced design, the report falls back to the intervals recorded in results.json and says
why (:attr:`Episodes.note`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..stats import DesignError, EpisodeOutcomes
from ..stats.episodes import FIELDS

ROLLOUTS_NAME = "rollouts.jsonl"


@dataclass(frozen=True)
class Episodes:
    """The outcomes (None when unusable), the path read, lines skipped, and a note when falling back."""

    outcomes: EpisodeOutcomes | None
    path: Path
    skipped: int = 0
    note: str = ""


def _order(config: dict[str, Any], key: str) -> list | None:
    value = config.get(key)
    return list(value) if isinstance(value, list) and value else None


def load_episodes(results_path: Path, config: dict[str, Any]) -> Episodes:
    """Read the rollouts.jsonl beside ``results_path``; tasks, splits and seeds in the order ``config`` gives."""
    path = results_path.parent / ROLLOUTS_NAME
    if not path.is_file():
        return Episodes(None, path, note=f"no {ROLLOUTS_NAME} beside results.json")
    records, skipped = [], 0
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        return Episodes(None, path, note=f"{path}: unreadable ({error})")
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            skipped += 1
            continue
        if not isinstance(record, dict) or any(name not in record for name in FIELDS):
            skipped += 1
            continue
        records.append(record)
    seen_tasks = list(dict.fromkeys(str(record["task"]) for record in records))
    tasks = _order(config, "tasks")
    try:
        outcomes = EpisodeOutcomes.from_records(
            records,
            tasks=tasks if tasks and set(tasks) == set(seen_tasks) else None,
            splits=_order(config, "splits"),
            seeds=_order(config, "seeds"),
        )
    except (DesignError, TypeError, ValueError) as error:
        return Episodes(None, path, skipped, note=f"{path}: {error}")
    skipped_note = f"{skipped} unreadable line(s) of {path.name} skipped" if skipped else ""
    return Episodes(outcomes, path, skipped, note=skipped_note)
