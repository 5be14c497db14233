"""report.md: the comparison of several encoders as markdown tables."""

from __future__ import annotations

import math
from typing import Any

from .gains import Gain
from .summary import OOD_SPLIT, Cell, MetricTable

PERCENT_METRICS = frozenset({"success"})


def number(value: float, *, metric: str, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "+" if signed else ""
    if metric in PERCENT_METRICS:
        return f"{100 * value:{sign}.1f}"
    if metric == "mse":
        return f"{value:{sign}.2e}"
    return f"{value:{sign}.3f}"


def cell_text(cell: Cell | Gain | None, *, metric: str, signed: bool = False) -> str:
    """'mean [low, high]' (intervals may be asymmetric, so both ends are shown)."""
    if cell is None:
        return "-"
    if not math.isfinite(cell.mean):
        return "n/a"
    ends = f"{number(cell.low, metric=metric, signed=signed)}, {number(cell.high, metric=metric, signed=signed)}"
    return f"{number(cell.mean, metric=metric, signed=signed)} [{ends}]"


def _title(table: MetricTable) -> str:
    unit = " (%)" if table.metric in PERCENT_METRICS else ""
    better = "lower" if table.lower_is_better else "higher"
    return f"{table.kind} / {table.metric}{unit}, {better} is better"


def _grid(header: list[str], lines: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(x) + " |" for x in lines)]


def score_table(table: MetricTable) -> list[str]:
    lines = [
        [label, *(cell_text(cells.get(split), metric=table.metric) for split in table.splits)]
        for label, cells in table.cells.items()
    ]
    return _grid(["encoder", *table.splits], lines)


def gain_table(table: MetricTable, gains: dict[str, dict[str, Gain]]) -> list[str]:
    lines = []
    for label, by_split in gains.items():
        row = [label]
        for split in table.splits:
            item = by_split.get(split)
            row.append("-" if item is None else f"{cell_text(item, metric=table.metric, signed=True)} {item.method}")
        lines.append(row)
    return _grid(["encoder", *table.splits], lines)


def latency_table(latency: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for label, entry in latency.items():
        if "error" in entry:
            lines.append([label, "n/a", "-", "-", "-", entry["error"]])
            continue
        for device in dict.fromkeys(record["device"] for record in entry["records"]):
            by_batch = {r["batch"]: r for r in entry["records"] if r["device"] == device}
            one, many = by_batch.get(1), by_batch.get(32)
            lines.append(
                [
                    label,
                    device,
                    f"{one['median_ms']:.1f}" if one else "-",
                    f"{many['median_ms']:.1f}" if many else "-",
                    f"{many['per_image_ms']:.2f}" if many else "-",
                    f"{entry['parameters'] / 1e6:.1f} M parameters, {next(iter(by_batch.values()))['image_size']} px",
                ]
            )
    return _grid(["encoder", "device", "batch 1 (ms)", "batch 32 (ms)", "per image at 32 (ms)", "notes"], lines)


def _seconds(timing: dict[str, float] | None) -> str:
    if not timing or "seconds" not in timing:
        return "-"
    text = f"{timing['seconds']:.1f} s"
    if "rollouts_per_second" in timing:
        text += f" ({timing['rollouts_per_second']:.2f} rollouts/s)"
    return text


def report_markdown(report: dict[str, Any], tables: list[MetricTable], gains: dict) -> str:
    """The whole report.md from the report's parts (see :func:`dynaflip.eval.report.build.build_report`)."""
    out = ["# Encoder comparison", ""]
    out += ["| encoder | spec | parameters | results |", "|---|---|---|---|"]
    for entry in report["encoders"]:
        files = ", ".join(f"{kind}: `{path}`" for kind, path in entry["files"].items())
        out.append(f"| {entry['label']} | `{entry['spec']}` | {entry['parameters'] or 0:,} | {files} |")
    out += [
        "",
        f"Baseline for gains: **{report['baseline']}**. Cells are mean [95 % interval]. '{OOD_SPLIT}' averages the "
        "shift splits. A policy split's number is the suite mean (Student-t interval over BC seeds); a probe "
        "split's is the average over probes (per seed when every probe has one value per seed).",
        "",
    ]
    for table in tables:
        out += [f"## {_title(table)}", "", *score_table(table), ""]
        key = f"{table.kind}/{table.metric}"
        if gains.get(key):
            out += [
                f"Gain over {report['baseline']} (difference of means; 'paired': t-interval of per-seed differences, "
                "'combined': the two intervals combined in quadrature):",
                "",
                *gain_table(table, gains[key]),
                "",
            ]
        scores = report["control_scores"].get(key)
        if scores:
            out += [
                "Control-relevant score (Dong et al.): each probe's mean min-max normalised across the encoders "
                "(best = 1), then averaged over probes:",
                "",
            ]
            splits = list(next(iter(scores.values())))
            out += _grid(
                ["encoder", *splits], [[label, *(f"{v[s]:.3f}" for s in splits)] for label, v in scores.items()]
            )
            out.append("")
    if report.get("latency"):
        note = f" {report['latency_note']}" if report.get("latency_note") else ""
        out += [
            "## Forward latency on this machine",
            "",
            "uint8 images at the encoder's input size -> features (normalisation, device copies and forward); "
            f"median of {report['latency_runs']} runs after warm-up. Machine: {report['machine']['processor']}, "
            f"torch {report['machine']['torch']}, {report['machine']['threads']} threads"
            + (f", {report['machine']['cuda_device']}" if "cuda_device" in report["machine"] else "")
            + f".{note}",
            "",
            *latency_table(report["latency"]),
            "",
        ]
    timing = [
        [entry["label"], *(_seconds(entry["timing"].get(kind)) for kind in report["kinds"])]
        for entry in report["encoders"]
    ]
    out += [
        "## Evaluation wall time (as recorded in each results.json)",
        "",
        *_grid(["encoder", *report["kinds"]], timing),
        "",
    ]
    out += ["## Figures", "", "![ID vs OOD](id_vs_ood.png)", "", "![OOD gain](ood_gain.png)", ""]
    return "\n".join(out)
