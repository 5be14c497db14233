"""results.md of a policy run: success per task (rows) and split (columns), with 95 % intervals and n."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..results import ResultRow, calibration_role
from ..stats import describe_n, interval_text
from .aggregate import MEAN_GROUP, SUMMARY_GROUPS, table_groups

INTERVAL_METHOD = (
    "Intervals: 95 %, from a hierarchical bootstrap over the BC seeds of each task and the episodes of each seed "
    "(tasks fixed), each task's and the mean's at least the Wilson interval of their rollouts; none where fewer "
    "than 10 episodes stand behind a number ('n too small'). **mean**: the mean over tasks; **iqm**: the "
    "interquartile mean of the (task, seed) success rates."
)


def percent_cell(row: ResultRow) -> str:
    """'mean [low, high]' in percent (intervals may be asymmetric, so both ends are shown), or the mean and why
    there is no interval."""
    return interval_text(row.mean, row.low, row.high, row.interval, scale=100.0, digits=1)


def success_table(rows: Sequence[ResultRow], *, splits: Sequence[str]) -> str:
    """A markdown table, one line per task, then bold summary lines (mean, iqm)."""
    cells = {(row.group, row.split): row for row in rows}
    lines = ["| task | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for group in table_groups(rows):
        label = f"**{group}**" if group in SUMMARY_GROUPS else group
        values = [percent_cell(cells[(group, split)]) if (group, split) in cells else "-" for split in splits]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def sample_size(rows: Sequence[ResultRow]) -> str:
    """'n = 3 tasks x 3 seeds x 25 episodes per split' from the mean rows (as recorded)."""
    sizes = {describe_n(row.n) for row in rows if row.group == MEAN_GROUP and row.n}
    return f"n = {' / '.join(sorted(sizes))} per split" if sizes else "n not recorded"


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
    role = calibration_role(encoder.get("spec"))
    calibration = [f"Calibration run ({role} of the instrument): not an encoder under comparison.", ""] if role else []
    reasons = sorted({row.interval for row in rows if not row.has_interval and row.interval})
    return "\n".join(
        [
            f"# Policy transfer in Meta-World: {encoder['name']}",
            "",
            *calibration,
            f"Encoder `{encoder['spec']}` (identity `{encoder['identity']}`, {encoder['parameters']:,} parameters), "
            "frozen.",
            f"Behaviour cloning: MLP {bc['hidden']} on [features ; ee xyz + gripper], {demos['per_task']} expert demos "
            f"per task ({demos['validation']} more for validation), {bc['epochs']} epochs, BC seeds {bc['seeds']}.",
            f"Rollouts: {rollout['episodes']} episodes per task, split and seed (episode seeds from "
            f"{rollout['seed']}), horizon {rollout['horizon']}, camera '{render['camera']}', "
            f"{render['image_size']} px. Shifts act on the renders only; the policy was trained in distribution.",
            "",
            f"Success rate in %, {sample_size(rows)}. {INTERVAL_METHOD}",
            "",
            success_table(rows, splits=splits),
            "",
            *([f"Without an interval: {'; '.join(reasons)}.", ""] if reasons else []),
            f"Wall time {timing['seconds']:.1f} s: demos {timing['demo_seconds']:.1f} s, features "
            f"{timing['feature_seconds']:.1f} s, training {timing['train_seconds']:.1f} s, rollouts "
            f"{timing['rollout_seconds']:.1f} s ({int(timing['rollouts'])} rollouts, "
            f"{timing['rollouts_per_second']:.2f} rollouts/s, {timing['steps_per_second']:.1f} steps/s).",
            "",
        ]
    )
