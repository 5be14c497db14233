"""report.md: the comparison of several encoders as markdown tables, each stating its n and method."""

from __future__ import annotations

import math
from typing import Any

from ..stats import MIN_EPISODES, describe_n
from ..stats.power import mde_factor
from .detectable import power_rows, power_table
from .gains import Gain
from .policy import PolicyStatistics
from .summary import OOD_SPLIT, Cell, MetricTable

PERCENT_METRICS = frozenset({"success", "accuracy"})
HEADLINE_SPLITS = ("id", OOD_SPLIT)


def number(value: float | None, *, metric: str, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "+" if signed else ""
    if metric in PERCENT_METRICS:
        return f"{100 * value:{sign}.1f}"
    if metric == "mse":
        return f"{value:{sign}.2e}"
    if metric == "rmse_cm":
        return f"{value:{sign}.2f}"
    return f"{value:{sign}.3f}"


def cell_text(cell: Cell | Gain | Any | None, *, metric: str, signed: bool = False) -> str:
    """'mean [low, high]' (intervals may be asymmetric, so both ends are shown), 'mean (n too small)' or
    'mean (no interval)' where there is none, '-' for a missing cell, 'n/a' for an undefined one."""
    if cell is None:
        return "-"
    mean = getattr(cell, "mean", getattr(cell, "estimate", math.nan))
    if mean is None or not math.isfinite(mean):
        return "n/a"
    text = number(mean, metric=metric, signed=signed)
    if math.isfinite(cell.low) and math.isfinite(cell.high):
        low, high = (number(end, metric=metric, signed=signed) for end in (cell.low, cell.high))
        return f"{text} [{low}, {high}]"
    return f"{text} ({'n too small' if 'n too small' in cell.method else 'no interval'})"


def role_label(label: str, role: str | None, *, baseline: str | None = None) -> str:
    if role:
        return f"{label} *(calibration: {role})*"
    return f"**{label}** (baseline)" if label == baseline else label


def _title(table: MetricTable) -> str:
    unit = " (%)" if table.metric in PERCENT_METRICS else (" (cm)" if table.metric == "rmse_cm" else "")
    better = "lower" if table.lower_is_better else "higher"
    return f"{table.kind} / {table.metric}{unit}, {better} is better"


def _grid(header: list[str], lines: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(x) + " |" for x in lines)]


def cell_n(cells: dict[str, Cell | None]) -> str:
    """The n of an encoder's row, from its first split: the recorded n, else the number of per-seed values."""
    for cell in cells.values():
        if cell is None:
            continue
        if cell.n:
            return describe_n(cell.n)
        if cell.values:
            return describe_n({"seeds": len(cell.values)})
    return "not recorded"


def _ordered(labels: list[str], roles: dict[str, str]) -> list[str]:
    """Calibration rows first (ceiling, floor), then the encoders in the order found."""
    rank = {"ceiling": 0, "floor": 1}
    return sorted(labels, key=lambda label: rank.get(roles.get(label, ""), 2))


def score_table(table: MetricTable, *, roles: dict[str, str] | None = None, baseline: str | None = None) -> list[str]:
    roles = roles or {}
    lines = [
        [
            role_label(label, roles.get(label), baseline=baseline),
            cell_n(table.cells[label]),
            *(cell_text(table.cells[label].get(split), metric=table.metric) for split in table.splits),
        ]
        for label in _ordered(list(table.cells), roles)
    ]
    return _grid(["encoder", "n", *table.splits], lines)


def missing_intervals(table: MetricTable) -> list[str]:
    """'label, split: reason' for every cell shown without an interval."""
    out = []
    for label, cells in table.cells.items():
        for split, cell in cells.items():
            if cell is not None and math.isfinite(cell.mean) and not cell.has_interval:
                out.append(f"{label}, {split}: {cell.method.removeprefix('no interval: ')}")
    return out


def gain_text(item: Gain, *, metric: str) -> str:
    """'+1.2 [-0.3, +2.7] method', or '+1.2 (why there is no interval)'."""
    text = cell_text(item, metric=metric, signed=True)
    if item.has_interval:
        return f"{text} {item.method}"
    return f"{text.split(' (')[0]} ({item.method.removeprefix('no interval: ')})"


def gain_table(table: MetricTable, gains: dict[str, dict[str, Gain]]) -> list[str]:
    lines = []
    for label, by_split in gains.items():
        sizes = [item.n for item in by_split.values() if item is not None and item.n]
        row = [label, describe_n(sizes[0]) if sizes else "-"]
        for split in table.splits:
            item = by_split.get(split)
            row.append("-" if item is None else gain_text(item, metric=table.metric))
        lines.append(row)
    return _grid(["encoder", "n", *table.splits], lines)


def _policy_sections(policy: PolicyStatistics) -> list[str]:
    """Aggregates (mean, IQM, gain, probability of improvement), the instrument's range and the MDE."""
    out: list[str] = []
    labels = _ordered(list(policy.summaries), policy.roles)
    lines = []
    for label in labels:
        for split in HEADLINE_SPLITS:
            summary = policy.summaries[label].get(split)
            if summary is None:
                continue
            comparison = policy.comparisons.get(label, {}).get(split)
            lines.append(
                [
                    role_label(label, policy.roles.get(label), baseline=policy.baseline),
                    split,
                    describe_n(summary.mean.n),
                    cell_text(summary.mean, metric="success"),
                    cell_text(summary.iqm, metric="success"),
                    cell_text(comparison.difference, metric="success", signed=True) if comparison else "-",
                    cell_text(comparison.improvement, metric="success") if comparison else "-",
                ]
            )
    if lines:
        base = policy.baseline or "the baseline"
        out += [
            f"Aggregates over tasks (rliable): mean and IQM success (%), the gain in mean success over {base} "
            f"(paired on shared episodes) and the probability of improvement P({'encoder'} > {base}) in %, "
            "each with its 95 % interval. Calibration rows are not compared.",
            "",
            *_grid(["encoder", "split", "n", "mean", "IQM", f"gain over {base}", "P(improvement)"], lines),
            "",
        ]
    if policy.instrument:
        ceiling = next(label for label, role in policy.roles.items() if role == "ceiling")
        floor = next(label for label, role in policy.roles.items() if role == "floor")
        cells = [cell_text(item.difference, metric="success", signed=True) for item in policy.instrument.values()]
        n = describe_n(policy.instrument.get("id", next(iter(policy.instrument.values()))).difference.n)
        out += [
            f"Instrument range: {ceiling} (ceiling) minus {floor} (floor), mean success in points; an interval "
            "clear of 0 means the instrument resolves this gap.",
            "",
            *_grid(["n", *policy.instrument], [[n, *cells]]),
            "",
        ]
    rows = power_rows(policy, splits=HEADLINE_SPLITS)
    if rows:
        out += [
            "Smallest difference in mean success this design detects at 80 % power (two-sided, 5 %): MDE = "
            f"(z_0.975 + z_0.8) x SE = {mde_factor():.2f} x SE, SE the standard deviation of the bootstrap "
            "replicates of the difference (`python -m dynaflip.eval.report.power RESULTS...` prints every split):",
            "",
            *power_table(rows),
            "",
        ]
    return out


def _intro(report: dict[str, Any], policy: PolicyStatistics | None) -> list[str]:
    out = ["# Encoder comparison", ""]
    out += ["| encoder | role | spec | parameters | results |", "|---|---|---|---|---|"]
    for entry in report["encoders"]:
        files = ", ".join(f"{kind}: `{path}`" for kind, path in entry["files"].items())
        role = (
            f"calibration: {entry['role']}"
            if entry.get("role")
            else ("baseline" if entry["label"] == report["baseline"] else "")
        )
        out.append(f"| {entry['label']} | {role} | `{entry['spec']}` | {entry['parameters'] or 0:,} | {files} |")
    baseline = report["baseline"] or "none (every encoder is a calibration run)"
    out += [
        "",
        f"Baseline for gains: **{baseline}**. Rows marked *calibration* are the policy instrument's ceiling "
        "(`oracle:state`: the simulator's state through the same behaviour cloning) and floor (`blind`: "
        "proprioception only): they show what the instrument can resolve, are not competitors and are never the "
        f"baseline. Cells are mean [95 % interval]; 'n too small' where fewer than {MIN_EPISODES} episodes stand "
        f"behind a number; '{OOD_SPLIT}' averages the shift splits.",
        "",
    ]
    if policy is not None and (policy.summaries or policy.notes):
        out += [
            f"Policy intervals: {policy.bootstrap.describe()} of the per-episode outcomes in rollouts.jsonl: for each "
            "task, the BC seeds are drawn with replacement, then each drawn seed's episodes (all seeds draw the same "
            "episodes when they rolled out the same ones); a difference between two encoders uses the same draws for "
            "both (paired on the shared (task, BC seed, episode)). Rates' intervals are at least the Wilson interval "
            "of their episodes; n is tasks x BC seeds x episodes per seed (x shifts for the OOD mean).",
            "",
        ]
        for label, note in policy.notes.items():
            out.append(f"- {label}: {note}.")
        if policy.notes:
            out.append("")
    return out


def _shift_coverage(splits: list[str]) -> str:
    """Which of the simulator's visual shifts this table evaluated and which it skipped, said plainly."""
    from dynaflip.sim.shifts import SEVERITY_SEPARATOR, SHIFTS  # names only: no simulator is imported

    # A split is a shift at full severity (``lighting``) or at a calibrated level (``lighting@0.5``).
    evaluated = [split for split in splits if split.partition(SEVERITY_SEPARATOR)[0] in SHIFTS]
    bases = {split.partition(SEVERITY_SEPARATOR)[0] for split in evaluated}
    skipped = [name for name in SHIFTS if name not in bases]
    listed = ", ".join(evaluated) or "none (in distribution only)"
    return f"Policy shifts evaluated: {listed}; not evaluated in this run: {', '.join(skipped) or 'none'}."


def report_markdown(
    report: dict[str, Any], tables: list[MetricTable], gains: dict, *, policy: PolicyStatistics | None = None
) -> str:
    """The whole report.md from the report's parts (see :func:`dynaflip.eval.report.build.build_report`)."""
    roles = {entry["label"]: entry["role"] for entry in report["encoders"] if entry.get("role")}
    out = _intro(report, policy)
    for table in tables:
        out += [f"## {_title(table)}", "", *score_table(table, roles=roles, baseline=report["baseline"]), ""]
        frames = next((e["probe_frames"] for e in report["encoders"] if e.get("probe_frames")), None)
        if table.kind == "probe" and frames:
            listed = ", ".join(f"{split} {count}" for split, count in frames.items())
            out += [f"Probe frames per split (the first encoder's dataset): {listed}.", ""]
        missing = missing_intervals(table)
        if missing:
            out += ["Without an interval: " + "; ".join(missing) + ".", ""]
        key = f"{table.kind}/{table.metric}"
        if table.kind == "policy":
            out += [_shift_coverage(table.splits), ""]
        if (table.kind, table.metric) == ("policy", "success") and policy is not None:
            out += _policy_sections(policy)
        if gains.get(key):
            out += [
                f"Gain over {report['baseline']} (difference of means; method in each cell, see 'Methods'):",
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
        "## Methods",
        "",
        *(f"- **{name}**: {text}" for name, text in report["methods"].items()),
        "",
        "## Figures",
        "",
        "![ID vs OOD](id_vs_ood.png)",
        "",
        "![OOD gain](ood_gain.png)",
        "",
    ]
    return "\n".join(out)


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
