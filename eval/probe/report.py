"""``results.md``: the probe scores of one encoder as markdown tables (probes x test splits)."""

from __future__ import annotations

import math
from typing import Any

from ..results import ResultRow
from .targets import PROBES

METRIC_TITLES = {"r2": "R²", "mse": "MSE", "accuracy": "accuracy"}


def format_cell(row: ResultRow | None, *, metric: str) -> str:
    """``mean ± half-interval`` (MSE in scientific notation); '-' when missing, 'n/a' when undefined."""
    if row is None:
        return "-"
    if not math.isfinite(row.mean):
        return "n/a"
    half = max(row.high - row.mean, row.mean - row.low)
    if metric == "mse":
        return f"{row.mean:.2e} ± {half:.1e}"
    return f"{row.mean:.3f} ± {half:.3f}"


def splits_of(rows: list[ResultRow]) -> list[str]:
    """Test splits in row order, 'id' first."""
    seen = list(dict.fromkeys(row.split for row in rows))
    return sorted(seen, key=lambda split: split != "id")


def table(rows: list[ResultRow], *, metrics: tuple[str, ...]) -> str:
    """One markdown table: a line per (probe, metric) whose metric is in ``metrics``."""
    splits = splits_of(rows)
    index = {(row.group, row.split, row.metric): row for row in rows}
    lines = ["| probe | metric | " + " | ".join("ID" if s == "id" else s for s in splits) + " |"]
    lines.append("|---|---|" + "---:|" * len(splits))
    for group in dict.fromkeys(row.group for row in rows):
        for metric in metrics:
            if any(row.group == group and row.metric == metric for row in rows):
                cells = [format_cell(index.get((group, split, metric)), metric=metric) for split in splits]
                lines.append(f"| {group} | {METRIC_TITLES.get(metric, metric)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_markdown(*, encoder: dict[str, Any], rows: list[ResultRow], config: dict[str, Any], timing: dict) -> str:
    """The whole results.md of one encoder."""
    dataset = config["dataset"]
    settings = dataset["settings"]
    descriptions = "\n".join(
        f"- `{name}`: {PROBES[name].description}" for name in dict.fromkeys(row.group for row in rows) if name in PROBES
    )
    return f"""# Probe results: {encoder["name"]}

Encoder `{encoder["spec"]}` ({encoder["parameters"] / 1e6:.1f} M parameters, identity `{encoder["identity"]}`),
features of the last {config["last_n"]} block(s), {config["feature_dim"]}-d. Dataset `{dataset["dataset_id"]}`
({len(dataset["tasks"])} task(s), {settings["image_size"]} px, flow horizon {settings["horizon"]} steps,
{settings["grid_size"]}x{settings["grid_size"]} query grid). Linear probes selected on validation episodes;
mean ± half-width of the 95 % t-interval over {config["seeds"]} seed(s). ID = held-out test episodes; the other
columns re-render the same test states under one visual shift (labels identical).

## Main scores (R² for regression, accuracy for the task probe)

{table(rows, metrics=("r2", "accuracy"))}

## Mean squared error (m², gripper: fraction²)

{table(rows, metrics=("mse",))}

## Probes

{descriptions}

Wall time {timing.get("seconds", 0.0):.1f} s (features {timing.get("feature_seconds", 0.0):.1f} s for
{timing.get("images_encoded", 0)} images, {timing.get("cached_splits", 0)} split(s) from the cache;
probes {timing.get("probe_seconds", 0.0):.1f} s).
"""
