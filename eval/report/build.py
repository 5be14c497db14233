"""Building the comparison report: collect results, summarise, compare with a baseline, time, write.

Outputs in ``out_dir``: report.md, report.json (everything in the markdown and the figures, machine-readable),
id_vs_ood.png and ood_gain.png.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from dynaflip.io import atomic_write_json, atomic_write_text
from dynaflip.output_folder import check_output_folder

from ..stats import EpisodeBootstrap
from ..stats import engine as engine_module
from ..stats import estimate as estimate_module
from ..stats import power as power_module
from . import gains as gains_module
from . import latency as latency_module
from . import summary as summary_module
from .collect import EncoderResults, collect, default_baseline, find_baseline
from .detectable import detectable_difference
from .gains import Gain, from_comparison, gain, paired_probe_gain, probe_terms
from .latency import machine, measure_latencies
from .markdown import report_markdown
from .plots import plot_gains, plot_id_vs_ood
from .policy import PolicyStatistics, policy_statistics
from .summary import MetricTable, metric_tables, normalised_scores

PROBE_KIND = "probe"
POLICY_KIND = "policy"
POLICY_KEY = (POLICY_KIND, "success")
FIGURES = {"id_vs_ood": "id_vs_ood.png", "ood_gain": "ood_gain.png"}


def _probe_gain(
    file: Any, base_file: Any, *, metric: str, split: str, bootstrap: EpisodeBootstrap
) -> tuple[Gain | None, str | None]:
    """The paired bootstrap gain of a probe cell (None and why not when the runs cannot be paired)."""
    if file.sums is None or base_file.sums is None:
        return None, "no episodes.json beside a probe results.json"
    terms, base_terms = (probe_terms(f, metric=metric, split=split) for f in (file, base_file))
    if terms is None or terms != base_terms:
        return None, "the two runs' rows differ"
    found = paired_probe_gain(
        file.sums, base_file.sums, terms, metric=metric, samples=bootstrap.replicates, seed=bootstrap.seed
    )
    return (found, None) if isinstance(found, Gain) else (None, found)


def _gains(
    tables: list[MetricTable],
    encoders: list[EncoderResults],
    baseline: EncoderResults | None,
    policy: PolicyStatistics,
    bootstrap: EpisodeBootstrap,
) -> dict[str, dict[str, dict[str, Gain]]]:
    """gains["kind/metric"][encoder label][split] for every encoder but the baseline and the calibration runs."""
    out: dict[str, dict[str, dict[str, Gain]]] = {}
    if baseline is None:
        return out
    for table in tables:
        base_cells = table.cells.get(baseline.label)
        if base_cells is None:
            continue
        by_encoder = {}
        for encoder in encoders:
            cells = table.cells.get(encoder.label)
            if encoder is baseline or encoder.role is not None or cells is None:
                continue
            if (table.kind, table.metric) == POLICY_KEY and encoder.label in policy.comparisons:
                by_encoder[encoder.label] = {
                    split: from_comparison(item) for split, item in policy.comparisons[encoder.label].items()
                }
                continue
            found = {}
            for split in table.splits:
                if cells.get(split) is None or base_cells.get(split) is None:
                    continue
                paired, note = None, None
                if table.kind == PROBE_KIND:
                    paired, note = _probe_gain(
                        encoder.files[table.kind],
                        baseline.files[table.kind],
                        metric=table.metric,
                        split=split,
                        bootstrap=bootstrap,
                    )
                found[split] = gain(cells[split], base_cells[split], metric=table.metric, paired=paired)
                if note and found[split].has_interval:
                    found[split].method += f", not paired: {note}"
            by_encoder[encoder.label] = found
        out[f"{table.kind}/{table.metric}"] = by_encoder
    return out


def _control_scores(tables: list[MetricTable], encoders: list[EncoderResults]) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for table in tables:
        if table.kind != PROBE_KIND:  # the score is defined over probes (Dong et al.)
            continue
        per_split = {}
        for split in table.splits:
            scores = normalised_scores(encoders, kind=table.kind, metric=table.metric, split=split)
            if scores:
                per_split[split] = scores
        if per_split:
            labels = list(next(iter(per_split.values())))
            out[f"{table.kind}/{table.metric}"] = {
                label: {split: scores[label] for split, scores in per_split.items()} for label in labels
            }
    return out


def _policy_section(policy: PolicyStatistics) -> dict[str, Any]:
    """report.json's "policy": aggregates, comparisons (with the minimum detectable difference), the
    instrument's range, and notes."""

    def comparison(item: Any) -> dict[str, Any]:
        return {
            "difference": item.difference,
            "improvement_probability": item.improvement,
            "paired": item.paired,
            "standard_error": item.standard_error,
            "minimum_detectable_difference": detectable_difference(item.standard_error),
        }

    return {
        "bootstrap": policy.bootstrap.describe(),
        "baseline": policy.baseline,
        "roles": policy.roles,
        "notes": policy.notes,
        "aggregates": {
            label: {
                split: {
                    "mean": summary.mean,
                    "iqm": summary.iqm,
                    "tasks": summary.tasks,
                    "standard_error": summary.standard_error,
                    # One evaluation alone: the MDE against an encoder of the same variance, unpaired.
                    "unpaired_minimum_detectable_difference": detectable_difference(
                        math.sqrt(2) * summary.standard_error
                    ),
                }
                for split, summary in by_split.items()
            }
            for label, by_split in policy.summaries.items()
        },
        "comparisons": {
            label: {split: comparison(item) for split, item in by_split.items()}
            for label, by_split in policy.comparisons.items()
        },
        "instrument": {split: comparison(item) for split, item in policy.instrument.items()},
    }


def _probe_frames(encoder: EncoderResults) -> dict[str, int]:
    """Frames per split of the probe dataset, as the probe results record them (config.dataset.frames)."""
    file = encoder.files.get(PROBE_KIND)
    dataset = file.config.get("dataset") if file else None
    frames = dataset.get("frames") if isinstance(dataset, dict) else None
    return {str(k): int(v) for k, v in frames.items() if isinstance(v, int | float)} if isinstance(frames, dict) else {}


def _prose(text: str | None) -> str:
    """A module docstring as one line of plain text: Sphinx roles and double backticks removed."""
    text = re.sub(r":\w+:`~?([^`]*)`", r"\1", text or "")
    return " ".join(text.replace("``", "`").split())


def _plain(value: Any) -> Any:
    """JSON-safe: dataclasses via to_json, non-finite floats as null (strict JSON has no NaN)."""
    if hasattr(value, "to_json"):
        value = value.to_json()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_report(
    paths: list[str | Path],
    *,
    out_dir: str | Path,
    baseline: str | None = None,
    latency: bool = False,
    device: str = "cpu",
    latency_runs: int = 5,
    bootstrap: EpisodeBootstrap | None = None,
) -> dict[str, Any]:
    """Write the report of the results under ``paths`` to ``out_dir``; returns report.json's content.

    ``baseline`` names an encoder (label, name, spec or identity prefix); default: the first one found that is
    not a calibration run. ``bootstrap``: the resampling of policy episodes (default 2000 resamples, seed 0).
    """
    check_output_folder(out_dir)  # before reading, resampling and timing anything
    encoders = collect(paths)
    base = find_baseline(encoders, baseline) if baseline is not None else default_baseline(encoders)
    bootstrap = bootstrap or EpisodeBootstrap()
    policy = policy_statistics(encoders, baseline=base, bootstrap=bootstrap)
    tables = metric_tables(encoders, episode_cells=policy.cells(), episode_key=POLICY_KEY)
    gains = _gains(tables, encoders, base, policy, bootstrap)
    kinds = list(dict.fromkeys(kind for encoder in encoders for kind in encoder.files))
    report: dict[str, Any] = {
        "baseline": base.label if base else None,
        "kinds": kinds,
        "encoders": [
            {
                "label": encoder.label,
                "role": encoder.role,
                "name": encoder.encoder.get("name"),
                "spec": encoder.encoder.get("spec"),
                "identity": encoder.encoder.get("identity"),
                "parameters": encoder.encoder.get("parameters"),
                "files": {kind: str(file.path) for kind, file in encoder.files.items()},
                "seeds": {kind: file.seeds for kind, file in encoder.files.items()},
                "timing": {kind: file.timing for kind, file in encoder.files.items()},
                "probe_frames": _probe_frames(encoder),
            }
            for encoder in encoders
        ],
        "tables": [
            {
                "kind": table.kind,
                "metric": table.metric,
                "lower_is_better": table.lower_is_better,
                "splits": table.splits,
                "cells": table.cells,
            }
            for table in tables
        ],
        "gains": gains,
        "policy": _policy_section(policy),
        "control_scores": _control_scores(tables, encoders),
        "figures": dict(FIGURES),
        "methods": {
            "summary": _prose(summary_module.__doc__),
            "gains": _prose(gains_module.__doc__),
            "policy_intervals": _prose(f"{engine_module.__doc__} {estimate_module.__doc__}"),
            "power": _prose(power_module.__doc__),
            "latency": _prose(latency_module.__doc__),
        },
    }
    if latency:
        # Calibration rows read the simulator, not an image: there is no forward pass to time.
        specs = {encoder.label: encoder.encoder.get("spec") or "" for encoder in encoders if not encoder.role}
        records, note = measure_latencies(specs, device=device, runs=latency_runs)
        report |= {"latency": records, "latency_note": note, "latency_runs": latency_runs, "machine": machine()}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    roles = {encoder.label: encoder.role for encoder in encoders if encoder.role}
    plot_id_vs_ood(tables, out_dir / FIGURES["id_vs_ood"], roles=roles)
    plot_gains(tables, gains, out_dir / FIGURES["ood_gain"], baseline=base.label if base else None)
    atomic_write_text(out_dir / "report.md", report_markdown(report, tables, gains, policy=policy))
    plain = _plain(report)
    atomic_write_json(out_dir / "report.json", plain)
    return plain
