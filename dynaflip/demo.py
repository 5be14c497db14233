"""The newcomer's main job (``scripts/demo.sh`` / ``dynaflip-demo``): the whole DynaFLIP path on data made on
the spot, from nothing to an evaluated encoder.

    simulated robot videos (Meta-World scripted experts, MuJoCo)
    -> image-language-3D-flow triplet shards (dynaflip-extract)
    -> a small DynaFLIP encoder and an image-only baseline trained on them (dynaflip-train)
    -> probes and a quick policy-transfer suite, in and out of distribution (dynaflip-probe, dynaflip-policy)
    -> a report: tracks and 3D flow, loss curves, the comparison table and bar charts (dynaflip-report)

Every step is one of the stage CLIs, run as a subprocess exactly as a user would type it (the commands are
printed), so the demo is also a worked example. Every step is resumable: rerunning continues where it
stopped. Scale comes from a config (configs/demo.yaml for this machine; configs/demo-ci.yaml is the test
suite's smaller run; configs/paper.yaml the paper's settings on a GPU node), with key=value overrides.

Examples:
  dynaflip-demo                                                 # configs/demo.yaml, about 20 min on 2 CPUs
  dynaflip-demo train.steps=600 data.episodes_per_task=12       # a longer run
  dynaflip-demo --config configs/demo-ci.yaml output_dir=/tmp/demo-small
  dynaflip-demo --config configs/paper.yaml                     # paper scale, one 8-GPU node

Outputs in output_dir: data/ (shards, probe dataset), runs/ (checkpoints, exports, metrics), results/
(probe and policy results.json), report/ (report.md, report.json, figures), demo-config.yaml.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dynaflip.cli_utils import parse_with_overrides
from dynaflip.config import ConfigError, dump_yaml, load_config

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "configs" / "demo.yaml"


@dataclass
class DataStep:
    tasks: list[str] = field(default_factory=lambda: ["button-press-topdown-v3", "sweep-into-v3", "pick-place-v3"])
    episodes_per_task: int = 8
    image_size: int = 128
    extract_overrides: list[str] = field(default_factory=list)
    workers: int = 2


@dataclass
class TrainStep:
    recipe: str = "configs/train/tiny-cpu.yaml"
    steps: int = 300
    # How the trainer starts: empty for one process; e.g. [torchrun, --nproc_per_node, "8"] on a GPU node.
    launcher: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    # The baseline: the same backbone, data and steps, trained image-only (no language, no flow).
    baseline_overrides: list[str] = field(
        default_factory=lambda: ["objective.modalities=[image]", "objective.lambda_act=0"]
    )


@dataclass
class ProbeStep:
    episodes_per_task: int = 6
    val_episodes: int = 1
    test_episodes: int = 2
    frames_per_episode: int = 8
    image_size: int = 128
    seeds: int = 3
    workers: int = 2
    run_options: list[str] = field(default_factory=list)  # extra `dynaflip-probe run` options, e.g. --device


@dataclass
class PolicyStep:
    config: str = "configs/eval/policy-quick.yaml"
    overrides: list[str] = field(default_factory=list)


@dataclass
class DemoConfig:
    output_dir: str = "outputs/demo"
    data: DataStep = field(default_factory=DataStep)
    train: TrainStep = field(default_factory=TrainStep)
    probe: ProbeStep = field(default_factory=ProbeStep)
    policy: PolicyStep = field(default_factory=PolicyStep)
    # The untrained reference: the trained models' architecture with random weights.
    random_encoder: str = "random:vit_tiny_patch16_224?img_size=64&patch_size=8&depth=6"
    baseline: str = "image-only"
    latency: bool = True


class DemoStep:
    def __init__(self, total: int) -> None:
        self.total = total
        self.index = 0
        self.start = time.perf_counter()

    def run(self, title: str, command: list[str]) -> None:
        self.index += 1
        print(f"\n[{self.index}/{self.total}] {title}\n$ {shlex.join(command)}", flush=True)
        started = time.perf_counter()
        result = subprocess.run(command, cwd=REPO)
        if result.returncode != 0:
            raise RuntimeError(f"step {self.index} ({title}) failed with exit code {result.returncode}")
        print(f"[{self.index}/{self.total}] done in {time.perf_counter() - started:.0f} s", flush=True)


def _cli(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def run_demo(config: DemoConfig) -> Path:
    out = (REPO / config.output_dir).resolve() if not Path(config.output_dir).is_absolute() else Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dump_yaml(config, out / "demo-config.yaml")
    data, runs, results, report = out / "data" / "metaworld", out / "runs", out / "results", out / "report"
    encoders = {"dynaflip": runs / "dynaflip" / "export", config.baseline: runs / config.baseline / "export"}
    steps = DemoStep(total=8 + len(encoders) + 1)
    tasks = ",".join(config.data.tasks)

    steps.run(
        "simulated robot videos -> triplet shards",
        [*_cli("dynaflip.extract.cli"), "metaworld", "--out", str(data), "--tasks", tasks,
         "--episodes-per-task", str(config.data.episodes_per_task), "--image-size", str(config.data.image_size),
         "--workers", str(config.data.workers), *config.data.extract_overrides],
    )  # fmt: skip
    steps.run(
        "draw example tracks and 3D flow",
        [*_cli("dynaflip.extract.cli"), "visualize", str(data), "--out", str(report / "tracks"), "--count", "4"],
    )
    trainer = (
        [*config.train.launcher, "-m", "dynaflip.train.cli"] if config.train.launcher else _cli("dynaflip.train.cli")
    )
    train_common = [
        *trainer, "--config", config.train.recipe, "--resume", "auto",
        f"data.shards=[{{path: {data}}}]", f"runtime.steps={config.train.steps}", *config.train.overrides,
    ]  # fmt: skip
    steps.run("train the DynaFLIP encoder", [*train_common, f"runtime.output_dir={runs / 'dynaflip'}"])
    steps.run(
        f"train the {config.baseline} baseline (same backbone, data and steps)",
        [*train_common, f"runtime.output_dir={runs / config.baseline}", *config.train.baseline_overrides],
    )
    probe_data = out / "data" / "probe"
    probe = config.probe
    steps.run(
        "render the probe dataset (ground-truth state; OOD re-renders of the test states)",
        [*_cli("dynaflip.eval.probe_cli"), "build-data", "--out", str(probe_data), "--tasks", tasks,
         "--episodes-per-task", str(probe.episodes_per_task), "--val-episodes", str(probe.val_episodes),
         "--test-episodes", str(probe.test_episodes), "--frames-per-episode", str(probe.frames_per_episode),
         "--image-size", str(probe.image_size), "--workers", str(probe.workers)],
    )  # fmt: skip
    encoder_args = [arg for path in encoders.values() for arg in ("--encoder", str(path))]
    steps.run(
        "linear probes, ID and OOD",
        [*_cli("dynaflip.eval.probe_cli"), "run", "--data", str(probe_data), *encoder_args,
         "--encoder", config.random_encoder, "--out", str(results / "probe"), "--seeds", str(probe.seeds),
         "--cache", str(out / "cache" / "features"), *probe.run_options],
    )  # fmt: skip
    policy_encoders = {**{name: str(path) for name, path in encoders.items()}, "random": config.random_encoder}
    for name, spec in policy_encoders.items():
        steps.run(
            f"policy transfer with the frozen {name} encoder, ID and OOD",
            [*_cli("dynaflip.eval.policy_cli"), "run", "--encoder", spec, "--out", str(results / "policy" / name),
             "--config", config.policy.config, f"runtime.cache_dir={out / 'cache' / 'policy'}",
             *config.policy.overrides],
        )  # fmt: skip
    steps.run("loss curves", [*_cli("dynaflip.demo"), "--plot-losses", str(runs), "--out", str(report)])
    report_command = [
        *_cli("dynaflip.eval.report_cli"), str(results), "--out", str(report), "--baseline", config.baseline,
    ]  # fmt: skip
    if config.latency:
        report_command.append("--latency")
    steps.run("comparison report", report_command)
    minutes = (time.perf_counter() - steps.start) / 60
    print(f"\nDynaFLIP demo finished in {minutes:.1f} min. Report: {report / 'report.md'}")
    return report


def plot_losses(runs: Path, out: Path) -> Path:
    """loss_curves.png: every logged loss term of every run under ``runs``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {}
    for metrics in sorted(runs.glob("*/metrics.jsonl")):
        rows = {}
        for line in metrics.read_text().splitlines():
            row = json.loads(line)
            rows[row["step"]] = row
        curves[metrics.parent.name] = [rows[step] for step in sorted(rows)]
    terms = ["loss", "align", "tcn", "act"]
    figure, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 3.2))
    for axis, term in zip(axes, terms, strict=True):
        for name, rows in curves.items():
            points = [(row["step"], row[term]) for row in rows if term in row]
            if points:
                axis.plot(*zip(*points, strict=True), label=name)
        axis.set_title(term)
        axis.set_xlabel("step")
    axes[0].legend()
    figure.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "loss_curves.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dynaflip-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", action="append", default=[], help=f"demo YAML (default {DEFAULT_CONFIG})")
    parser.add_argument("--plot-losses", metavar="RUNS", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parse_with_overrides(parser, argv)
    if args.plot_losses:
        print(plot_losses(Path(args.plot_losses), Path(args.out)))
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        config = load_config(DemoConfig, files=args.config or [DEFAULT_CONFIG], overrides=args.overrides)
        run_demo(config)
    except (ConfigError, RuntimeError) as error:
        print(f"dynaflip-demo: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
