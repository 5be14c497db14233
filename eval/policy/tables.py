"""results.md of a policy run: success per task (rows) and split (columns), with 95 % intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..results import ResultRow
from .aggregate import MEAN_GROUP, table_groups


def percent_cell(row: ResultRow) -> str:
    """'mean [low, high]' in percent: the intervals are not symmetric (Wilson), so both ends are shown."""
    return f"{100 * row.mean:.1f} [{100 * row.low:.1f}, {100 * row.high:.1f}]"


def success_table(rows: Sequence[ResultRow], *, splits: Sequence[str]) -> str:
    """A markdown table, one line per task and a bold suite-mean line last."""
    cells = {(row.group, row.split): row for row in rows}
    groups = table_groups(rows)
    lines = ["| task | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for group in groups:
        label = f"**{group}**" if group == MEAN_GROUP else group
        values = [percent_cell(cells[(group, split)]) if (group, split) in cells else "-" for split in splits]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def results_markdown(
    rows: Sequence[ResultRow],
    *,
    splits: Sequence[str],
    encoder: dict[str, Any],
    config: dict[str, Any],
    timing: dict[str, float],
) -> str:
    """The whole results.md: what was run, the table, how the intervals were made, and the timing."""
    demos, bc, rollout, render = config["demos"], config["bc"], config["rollout"], config["render"]
    return "\n".join(
        [
            f"# Policy transfer in Meta-World: {encoder['name']}",
            "",
            f"Encoder `{encoder['spec']}` (identity `{encoder['identity']}`, {encoder['parameters']:,} parameters), "
            "frozen.",
            f"Behaviour cloning: MLP {bc['hidden']} on [features ; ee xyz + gripper], {demos['per_task']} expert demos "
            f"per task ({demos['validation']} more for validation), {bc['epochs']} epochs, BC seeds {bc['seeds']}.",
            f"Rollouts: {rollout['episodes']} episodes per task, split and seed (episode seeds from "
            f"{rollout['seed']}), horizon {rollout['horizon']}, camera '{render['camera']}', "
            f"{render['image_size']} px. Shifts act on the renders only; the policy was trained in distribution.",
            "",
            "Success rate in % with 95 % intervals: per task, a Wilson interval over all rollouts of all seeds; "
            "**mean**, a Student-t interval over the seeds' mean success.",
            "",
            success_table(rows, splits=splits),
            "",
            f"Wall time {timing['seconds']:.1f} s: demos {timing['demo_seconds']:.1f} s, features "
            f"{timing['feature_seconds']:.1f} s, training {timing['train_seconds']:.1f} s, rollouts "
            f"{timing['rollout_seconds']:.1f} s ({int(timing['rollouts'])} rollouts, "
            f"{timing['rollouts_per_second']:.2f} rollouts/s, {timing['steps_per_second']:.1f} steps/s).",
            "",
        ]
    )
