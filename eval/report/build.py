"""Building the comparison report: collect results, summarise, compare with a baseline, time, write.

Outputs in ``out_dir``: report.md, report.json (everything in the markdown and the figures, machine-readable),
id_vs_ood.png and ood_gain.png.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dynaflip.io import atomic_write_json, atomic_write_text

from . import gains as gains_module
from . import latency as latency_module
from . import summary as summary_module
from .collect import EncoderResults, collect, find_encoder
from .gains import Gain, gain
from .latency import machine, measure_latencies
from .markdown import report_markdown
from .plots import plot_gains, plot_id_vs_ood
from .summary import MetricTable, metric_tables, normalised_scores

PROBE_KIND = "probe"
PROBE_KIND = "probe"
FIGURES = {"id_vs_ood": "id_vs_ood.png", "ood_gain": "ood_gain.png"}


def _gains(
    tables: list[MetricTable], encoders: list[EncoderResults], baseline: EncoderResults
) -> dict[str, dict[str, dict[str, Gain]]]:
    """gains["kind/metric"][encoder label][split] for every encoder but the baseline."""
    out: dict[str, dict[str, dict[str, Gain]]] = {}
    for table in tables:
        base_cells = table.cells.get(baseline.label)
        if base_cells is None:
            continue
        base_seeds = baseline.files[table.kind].seeds
        by_encoder = {}
        for encoder in encoders:
            cells = table.cells.get(encoder.label)
            if encoder is baseline or cells is None:
                continue
            seeds = encoder.files[table.kind].seeds
            by_encoder[encoder.label] = {
                split: gain(cells[split], base_cells[split], seeds=seeds, baseline_seeds=base_seeds)
                for split in table.splits
                if cells.get(split) is not None and base_cells.get(split) is not None
            }
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
) -> dict[str, Any]:
    """Write the report of the results under ``paths`` to ``out_dir``; returns report.json's content.

    ``baseline`` names an encoder (label, name, spec or identity prefix); default: the first one found.
    """
    encoders = collect(paths)
    base = find_encoder(encoders, baseline) if baseline is not None else encoders[0]
    tables = metric_tables(encoders)
    gains = _gains(tables, encoders, base)
    kinds = list(dict.fromkeys(kind for encoder in encoders for kind in encoder.files))
    report: dict[str, Any] = {
        "baseline": base.label,
        "kinds": kinds,
        "encoders": [
            {
                "label": encoder.label,
                "name": encoder.encoder.get("name"),
                "spec": encoder.encoder.get("spec"),
                "identity": encoder.encoder.get("identity"),
                "parameters": encoder.encoder.get("parameters"),
                "files": {kind: str(file.path) for kind, file in encoder.files.items()},
                "seeds": {kind: file.seeds for kind, file in encoder.files.items()},
                "timing": {kind: file.timing for kind, file in encoder.files.items()},
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
        "control_scores": _control_scores(tables, encoders),
        "figures": dict(FIGURES),
        "methods": {
            "summary": " ".join(summary_module.__doc__.split()),
            "gains": " ".join(gains_module.__doc__.split()),
            "latency": " ".join(latency_module.__doc__.split()),
        },
    }
    if latency:
        specs = {encoder.label: encoder.encoder.get("spec") or "" for encoder in encoders}
        records, note = measure_latencies(specs, device=device, runs=latency_runs)
        report |= {"latency": records, "latency_note": note, "latency_runs": latency_runs, "machine": machine()}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_id_vs_ood(tables, out_dir / FIGURES["id_vs_ood"])
    plot_gains(tables, gains, out_dir / FIGURES["ood_gain"], baseline=base.label)
    atomic_write_text(out_dir / "report.md", report_markdown(report, tables, gains))
    plain = _plain(report)
    atomic_write_json(out_dir / "report.json", plain)
    return plain
