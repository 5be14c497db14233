"""Write a finished pipeline run up as a results document: design, headline, the full report, compute, software.

    python -m dynaflip.pipeline.results_doc outputs/study-cpu --doc docs/results/study-cpu.md \\
        --conclusion conclusion.md --command "dynaflip-study"

The document is assembled from what the run recorded, never retyped: the design from
``pipeline-config.yaml``, the headline from ``report/report.json``, every table from ``report/report.md``
(copied, with ``report.json`` and the figures, into ``docs/results/<name>/``), and the wall time and CPU-hours
of each step, the software versions and the commit from ``timing.json``. Only the conclusion is written by a
person (``--conclusion``, required): it must say what the numbers support, whatever their sign.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from dynaflip.io import atomic_write_text

from .evidence import headline_table

COPIED = ("report.md", "report.json", "id_vs_ood.png", "ood_gain.png", "loss_curves.png")
GAP_COLUMNS = (("policy/success", "id", 100.0), ("policy/success", "ood mean", 100.0),
               ("probe/score", "id", 1.0), ("probe/score", "ood mean", 1.0))  # fmt: skip


def _gain_text(cell: dict[str, Any] | None, scale: float) -> str:
    if not cell or cell.get("mean") is None:
        return "-"
    digits = 1 if scale == 100.0 else 2
    text = f"{scale * cell['mean']:+.{digits}f}"
    if cell.get("low") is None or cell.get("high") is None:
        return f"{text} (no interval)"
    return f"{text} [{scale * cell['low']:+.{digits}f}, {scale * cell['high']:+.{digits}f}]"


def seed_gaps(out_dir: Path, config: dict[str, Any], *, resamples: int = 2000) -> list[str]:
    """For every arm trained with several pre-training seeds: each later seed minus the first, with the report's
    paired intervals (a second ``dynaflip-report`` over that arm's result folders). The yardstick for every
    difference between arms: a gap between arms no larger than the gap between seeds of one arm is noise."""
    rows = []
    for arm in config["arms"]:
        seeds = arm.get("seeds", [0])
        if len(seeds) < 2:
            continue
        names = [f"{arm['name']}-s{seed}" for seed in seeds]
        folders = [out_dir / "results" / kind / name for name in names for kind in ("policy", "probe")]
        with tempfile.TemporaryDirectory() as scratch:
            command = [sys.executable, "-m", "dynaflip.eval.report_cli",
                       *(str(f) for f in folders if (f / "results.json").is_file()),
                       "--out", scratch, "--baseline", names[0], "--resamples", str(resamples)]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise ValueError(f"dynaflip-report over the seeds of {arm['name']} failed: {last}")
            gains = json.loads((Path(scratch) / "report.json").read_text())["gains"]
        for name in names[1:]:
            cells = [
                _gain_text(gains.get(key, {}).get(name, {}).get(split), scale) for key, split, scale in GAP_COLUMNS
            ]
            rows.append(f"| {arm['name']} | {name} - {names[0]} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return [
        "## Pre-training seed gap (the noise yardstick)",
        "",
        "The same arm trained again with another seed, everything else equal: mean difference [95 % paired "
        "interval]. A difference between arms within this gap is not evidence for either.",
        "",
        "| arm | seeds | policy success ID (points) | policy success OOD mean (points) | probe score ID | "
        "probe score OOD mean |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _design(config: dict[str, Any]) -> list[str]:
    data, train, probe, policy = config["data"], config["train"], config["probe"], config["policy"]
    out = [
        "## Design",
        "",
        f"- **Pre-training data**: {data['episodes_per_task']} scripted-expert episodes of each of "
        f"{len(data['tasks'])} Meta-World v3 tasks, rendered at {data['image_size']} px and extracted by "
        f"`dynaflip-extract metaworld` ({', '.join(data['extract_overrides']) or 'default settings'}): "
        f"{', '.join(data['tasks'])}.",
        f"- **Training**: `{train['recipe']}`, {train['steps']} optimizer steps"
        + (f", with {', '.join(f'`{o}`' for o in train['overrides'])}" if train["overrides"] else "")
        + ", the same for every arm.",
        f"- **Evaluation tasks** (held out from pre-training): probes on {', '.join(probe['tasks'])} "
        f"({probe['episodes_per_task']} episodes per task, {probe['test_episodes']} of them test, "
        f"{probe['frames_per_episode']} frames each, {probe['seeds']} probe seeds); the policy suite "
        f"`{policy['config']}`"
        + (f" with {', '.join(f'`{o}`' for o in policy['overrides'])}" if policy["overrides"] else "")
        + ".",
        f"- **Calibration rows**: {', '.join(f'`{spec}`' for spec in policy['calibration']) or 'none'}; "
        f"random-weights floor `{config['random_encoder']}`; baseline for gains: `{config['baseline']}`.",
        "",
        "| arm | overrides of the shared recipe | pre-training seeds |",
        "|---|---|---|",
    ]
    for arm in config["arms"]:
        overrides = ", ".join(f"`{o}`" for o in arm.get("overrides", [])) or "(the full objective)"
        out.append(f"| {arm['name']} | {overrides} | {', '.join(str(s) for s in arm.get('seeds', [0]))} |")
    return [*out, ""]


def _compute(timing: dict[str, Any]) -> list[str]:
    steps = timing.get("steps", {})
    out = [
        "## Compute",
        "",
        "Each step as the run recorded it in `timing.json` (the attempt that completed it; CPU time is user + "
        "system of the step's whole process tree).",
        "",
        "| step | wall (min) | CPU-hours |",
        "|---|---|---|",
    ]
    for step in steps.values():
        out.append(f"| {step['title']} | {step['wall_seconds'] / 60:.1f} | {step['cpu_seconds'] / 3600:.2f} |")
    wall = sum(step["wall_seconds"] for step in steps.values())
    cpu = sum(step["cpu_seconds"] for step in steps.values())
    out += [f"| **total** | **{wall / 60:.1f}** | **{cpu / 3600:.2f}** |", ""]
    return out


def _checkout_relative(text: str) -> str:
    """Paths inside this checkout written relative to it (``outputs/study-cpu/...``): no machine's paths."""
    return text.replace(f"{Path.cwd().resolve()}/", "")


def _commands(timing: dict[str, Any]) -> list[str]:
    """Every step's exact command as the run recorded it, with this checkout's path left out (run them from a
    clone's root)."""
    steps = timing.get("steps", {})
    if not steps:
        return []
    out = ["## Commands", "", "Each step's exact command, from `timing.json`, run from the repository's root:", "",
           "<details><summary>" + f"{len(steps)} commands" + "</summary>", "", "```bash"]  # fmt: skip
    out += [_checkout_relative(step["command"]) for step in steps.values() if step.get("command")]
    return [*out, "```", "", "</details>", ""]


def _software(timing: dict[str, Any]) -> list[str]:
    versions = ", ".join(f"{name} {version}" for name, version in timing.get("software", {}).items())
    commit = timing.get("commit") or "unknown"
    lines = ["## Software", "", f"Commit `{commit}` (the run's latest start); {versions or 'versions unknown'}."]
    steps = timing.get("steps", {}).values()
    # A resumed run's steps may have run at older commits: each step records its own since they could.
    others = sorted({step["commit"] or "unknown" for step in steps if "commit" in step} - {commit})
    unrecorded = [step["title"] for step in steps if "commit" not in step]
    if others:
        lines.append("Steps run at other commits: " + ", ".join(f"`{other}`" for other in others) + ".")
    if unrecorded:
        lines.append(f"{len(unrecorded)} of {len(steps)} steps finished before steps recorded their commit.")
    return [*lines, ""]


def results_markdown(out_dir: Path, *, name: str, command: str, conclusion: str) -> str:
    """The document's text; figures and the full report are linked under ``<name>/``."""
    config = yaml.safe_load((out_dir / "pipeline-config.yaml").read_text())
    report = json.loads((out_dir / "report" / "report.json").read_text())
    timing_path = out_dir / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {}
    lines = [
        f"# Results: {name}",
        "",
        "Does DynaFLIP's objective give features that transfer better than its ablations and baselines, with the "
        "backbone, data, steps, batch and augmentation held fixed?",
        "",
        f"Reproduce: `{command}` (resumable: rerun it to continue a killed run).",
        "",
        "## Conclusion",
        "",
        conclusion.strip(),
        "",
        "## Headline",
        "",
        "Mean [95 % interval]; policy success from a bootstrap over BC seeds and episodes (paired across "
        "encoders), probe score the median over probes. The full tables, n, gains, the probability of "
        f"improvement and the smallest detectable differences are in [the report]({name}/report.md).",
        "",
        headline_table(report),
        "",
        *seed_gaps(out_dir, config),
        f"![ID vs OOD]({name}/id_vs_ood.png)",
        "",
        f"![OOD gain]({name}/ood_gain.png)",
        "",
        f"![Loss curves]({name}/loss_curves.png)",
        "",
        *_design(config),
        *_compute(timing),
        *_commands(timing),
        *_software(timing),
    ]
    return "\n".join(lines)


def write_results_doc(out_dir: Path, doc: Path, *, command: str, conclusion: str) -> Path:
    """Copy the report's files next to ``doc`` (``<doc stem>/``; paths inside the checkout made relative to it)
    and write ``doc``."""
    if not conclusion.strip():
        raise ValueError("conclusion: expected the text of what the numbers support, got an empty text")
    for required in ("pipeline-config.yaml", "report/report.json", "report/report.md"):
        if not (out_dir / required).is_file():
            raise FileNotFoundError(f"{out_dir / required}: not found; is the run finished?")
    assets = doc.parent / doc.stem
    assets.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = out_dir / "report" / name
        if source.is_file() and source.suffix in (".md", ".json"):
            atomic_write_text(assets / name, _checkout_relative(source.read_text()))
        elif source.is_file():
            shutil.copyfile(source, assets / name)
    atomic_write_text(doc, results_markdown(out_dir, name=doc.stem, command=command, conclusion=conclusion))
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynaflip.pipeline.results_doc", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("run", help="the pipeline run's output folder (e.g. outputs/study-cpu)")
    parser.add_argument("--doc", required=True, help="the markdown file to write (e.g. docs/results/study-cpu.md)")
    parser.add_argument("--conclusion", required=True, help="a file with the conclusion, written by a person")
    parser.add_argument("--command", default="dynaflip-study", help="the command that made the run")
    args = parser.parse_args(argv)
    try:
        conclusion = Path(args.conclusion).read_text()
        doc = write_results_doc(Path(args.run), Path(args.doc), command=args.command, conclusion=conclusion)
    except (OSError, ValueError) as error:
        print(f"results_doc: error: {error}", file=sys.stderr)
        return 2
    print(doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
