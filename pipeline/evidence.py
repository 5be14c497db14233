"""What a published encoder's model card says about the run that made it: data, steps, compute, and the
run's headline numbers for every encoder it compared (from ``report/report.json`` and ``timing.json``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

HEADLINE = (("policy", "success", 100.0, "policy success %"), ("probe", "score", 1.0, "probe score (median)"))
SPLITS = (("id", "ID"), ("ood mean", "OOD mean"))


def _cell_text(cell: dict[str, Any] | None, scale: float) -> str:
    if not cell or not isinstance(cell.get("mean"), int | float) or not math.isfinite(cell["mean"]):
        return "-"
    digits = 1 if scale == 100.0 else 2
    text = f"{scale * cell['mean']:.{digits}f}"
    low, high = cell.get("low"), cell.get("high")
    if isinstance(low, int | float) and isinstance(high, int | float) and math.isfinite(low) and math.isfinite(high):
        return f"{text} [{scale * low:.{digits}f}, {scale * high:.{digits}f}]"
    return f"{text} (no interval)"


def headline_table(report: dict[str, Any]) -> str:
    """A markdown table: one line per encoder, policy success and probe score, ID and OOD mean."""
    tables = {(table["kind"], table["metric"]): table for table in report.get("tables", [])}
    columns = [(key, scale, f"{title} {label}", split) for *key, scale, title in HEADLINE for split, label in SPLITS]
    columns = [column for column in columns if tuple(column[0]) in tables]
    if not columns:
        return "(the run's report has no policy or probe table)"
    lines = ["| encoder | " + " | ".join(c[2] for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for encoder in report.get("encoders", []):
        label = encoder["label"] + (f" ({encoder['role']})" if encoder.get("role") else "")
        cells = [_cell_text(tables[tuple(key)]["cells"].get(encoder["label"], {}).get(split), scale)
                 for key, scale, _, split in columns]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def training_summary(out_dir: Path) -> str:
    """One paragraph: data, steps and batch, and the CPU time the pipeline's steps took."""
    config = yaml.safe_load((out_dir / "pipeline-config.yaml").read_text())
    data, train = config["data"], config["train"]
    timing_path = out_dir / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"steps": {}}
    trained = [step for name, step in timing["steps"].items() if name.startswith("train-")]
    cpu_hours = sum(step["cpu_seconds"] for step in trained) / 3600 / max(1, len(trained))
    wall_hours = sum(step["wall_seconds"] for step in trained) / 3600 / max(1, len(trained))
    return (
        f"Pre-trained from scratch on triplets extracted by `dynaflip-extract metaworld` from "
        f"{data['episodes_per_task']} scripted-expert episodes of each of {len(data['tasks'])} simulated "
        f"Meta-World v3 tasks ({', '.join(data['tasks'])}), rendered at {data['image_size']} px; "
        f"{train['steps']} optimizer steps of `{train['recipe']}`"
        + (f"; {wall_hours:.2f} h wall, {cpu_hours:.2f} CPU-hours per run on a 2-core CPU" if trained else "")
        + f" ({_code_version(trained, timing)})."
    )


def _code_version(trained: list[dict[str, Any]], timing: dict[str, Any]) -> str:
    """The commit(s) the training steps ran at; runs recorded before steps kept their own commit say so."""
    if trained and all("commit" in step for step in trained):
        commits = sorted({step["commit"] or "unknown" for step in trained})
        return ("commit " if len(commits) == 1 else "commits ") + ", ".join(commits)
    return f"the run last resumed at commit {timing.get('commit') or 'unknown'}; training steps recorded no commit"


def evidence_markdown(out_dir: Path) -> str:
    """The model card's evaluation section for encoders published from the run in ``out_dir``."""
    report_path = out_dir / "report" / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return "\n".join(
        [
            training_summary(out_dir),
            "",
            "A small encoder trained on simulated robot video only, at CPU scale: not the paper's model "
            "(DINOv2 ViT-B/14 on 260K real robot and human trajectories) and not a general-purpose backbone.",
            "",
            "The run's comparison (95 % intervals; policy: bootstrap over BC seeds and episodes; "
            "probe: bootstrap over test episodes):",
            "",
            headline_table(report),
        ]
    )
