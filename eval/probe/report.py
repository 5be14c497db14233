"""``results.md``: the probe scores of one encoder as markdown tables (probes x test splits)."""

from __future__ import annotations

import math
from typing import Any

from ..results import ResultRow
from .scoring import ACCURACY, MEDIAN_GROUP, RMSE_CM, SCORE
from .targets import PROBES

METRIC_TITLES = {SCORE: "score", RMSE_CM: "RMSE (cm)", ACCURACY: "accuracy"}
SPLIT_TITLES = {"id": "ID"}


def format_cell(row: ResultRow | None, *, metric: str) -> str:
    """``mean [low, high]``; ``mean`` alone when the row has no interval; '-' when missing, 'n/a' when
    undefined."""
    if row is None:
        return "-"
    if not math.isfinite(row.mean):
        return "n/a"
    digits = 1 if metric == RMSE_CM else 2
    value = f"{row.mean:.{digits}f}"
    if not (math.isfinite(row.low) and math.isfinite(row.high)):
        return value
    return f"{value} [{row.low:.{digits}f}, {row.high:.{digits}f}]"


def splits_of(rows: list[ResultRow]) -> list[str]:
    """Test splits in row order, 'id' first."""
    seen = list(dict.fromkeys(row.split for row in rows))
    return sorted(seen, key=lambda split: split != "id")


def table(rows: list[ResultRow], *, metrics: tuple[str, ...]) -> str:
    """One markdown table: a line per (probe, metric) whose metric is in ``metrics``; the median last."""
    splits = splits_of(rows)
    index = {(row.group, row.split, row.metric): row for row in rows}
    lines = ["| probe | metric | " + " | ".join(SPLIT_TITLES.get(s, s) for s in splits) + " |"]
    lines.append("|---|---|" + "---:|" * len(splits))
    groups = [group for group in dict.fromkeys(row.group for row in rows) if group != MEDIAN_GROUP]
    for group in [*groups, MEDIAN_GROUP]:
        for metric in metrics:
            if any(row.group == group and row.metric == metric for row in rows):
                cells = [format_cell(index.get((group, split, metric)), metric=metric) for split in splits]
                name = f"**{group}** (over probes)" if group == MEDIAN_GROUP else group
                lines.append(f"| {name} | {METRIC_TITLES.get(metric, metric)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _interval_notes(config: dict[str, Any]) -> str:
    intervals = config["intervals"]
    n = f"n = {intervals['test_episodes']} test episodes x {intervals['seeds']} probe seed(s)"
    if intervals.get("none"):
        return f"**No intervals**: {intervals['none']} ({n}). The numbers are point estimates only."
    text = (
        f"Brackets: {intervals['method']} ({n}, {intervals['samples']} resamples); the same resamples for every "
        "split, so splits are compared on the same episodes; an accuracy's interval is at least the Wilson "
        "interval with the test episodes as trials."
    )
    missing = intervals.get("missing", [])
    if missing:
        listed = "; ".join(f"{m['group']}/{SPLIT_TITLES.get(m['split'], m['split'])}: {m['reason']}" for m in missing)
        text += f" No interval where {listed}."
    return text


def _conditioning(config: dict[str, Any]) -> str:
    conditioning = config["conditioning"]
    per_seed = conditioning["per_seed"]
    frames = sorted({entry["train_frames"] for entry in per_seed})
    counts = sorted({entry["components"] for entry in per_seed}, key=lambda c: -1 if c is None else c)
    width = conditioning["feature_dim"]
    if counts == [None]:
        read = f"all {width} standardised feature dimensions"
        ratio = min(frames) / width
    else:
        read = f"{'/'.join(str(c) for c in counts)} principal components of the {width}-d standardised features"
        ratio = min(frames) / max(c for c in counts if c is not None)
    warning = (
        f" **Ill-conditioned**: fewer than {conditioning['frames_per_dimension']} training frames per input "
        "dimension; OOD scores of such probes mostly measure extrapolation noise."
        if ratio < conditioning["frames_per_dimension"]
        else ""
    )
    return (
        f"Probe inputs: {read} (fitted on each seed's training frames; `--pca-dims {conditioning['pca_dims']}`), "
        f"{'/'.join(str(f) for f in frames)} training frames, {ratio:.1f} frames per input dimension.{warning}"
    )


def _clipping(config: dict[str, Any]) -> str:
    shares = config.get("clipped_fraction", {})
    if not shares:
        return ""
    worst = max(shares, key=shares.get)
    ood = [value for key, value in shares.items() if not key.endswith("/id")]
    return (
        f"Predictions clipped to the training label range: {100 * max(ood, default=0.0):.0f} % of the entries at "
        f"most on an OOD split, {100 * shares[worst]:.0f} % at most overall ({worst})."
    )


def results_markdown(*, encoder: dict[str, Any], rows: list[ResultRow], config: dict[str, Any], timing: dict) -> str:
    """The whole results.md of one encoder."""
    dataset = config["dataset"]
    settings = dataset["settings"]
    descriptions = "\n".join(
        f"- `{name}`: {PROBES[name].description}" for name in dict.fromkeys(row.group for row in rows) if name in PROBES
    )
    omitted = "".join(f"\n- `{o['probe']}` is not scored on `{o['split']}`: {o['reason']}." for o in config["omitted"])
    relabelled = dataset.get("relabelled", {})
    camera = (
        "Under the camera shift the future-flow target is re-expressed for the shifted camera (its pixel grid, "
        "its frame, from its own depth and segmentation), so it stays a function of the image the probe sees."
        if relabelled
        else ""
    )
    return f"""# Probe results: {encoder["name"]}

Encoder `{encoder["spec"]}` ({encoder["parameters"] / 1e6:.1f} M parameters, identity `{encoder["identity"]}`),
features of the last {config["last_n"]} block(s), {config["feature_dim"]}-d. Dataset `{dataset["dataset_id"]}`
({len(dataset["tasks"])} task(s), {settings["image_size"]} px, flow horizon {settings["horizon"]} steps,
{settings["grid_size"]}x{settings["grid_size"]} query grid). ID = held-out test episodes; the other columns
re-render the same test states under one visual shift.

**Score** = 1 - MSE / MSE(training label mean): 1 is perfect, 0 is the constant predictor that always answers
the training mean, below 0 is worse than that constant. The reference is fitted on training frames only and
scored on the same test states in every column, so columns are comparable (the camera column's flow against
its own re-expressed target). The median row is the median
over the regression probes. Mean over {config["seeds"]} probe seed(s).

{_interval_notes(config)}

{_conditioning(config)} {_clipping(config)}

## Scores (regression probes) and accuracy (task probe)

{table(rows, metrics=(SCORE, ACCURACY))}

## Position error (centimetres)

{table(rows, metrics=(RMSE_CM,))}

## Probes

{descriptions}{omitted}

{camera}

Wall time {timing.get("seconds", 0.0):.1f} s (features {timing.get("feature_seconds", 0.0):.1f} s for
{timing.get("images_encoded", 0)} images, {timing.get("cached_splits", 0)} split(s) from the cache;
probes {timing.get("probe_seconds", 0.0):.1f} s).
"""
