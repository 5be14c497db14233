"""The pipeline: simulated videos -> shards -> encoders per (arm, seed) -> probes and policies -> report.

Every step is one of the stage CLIs, run as a subprocess exactly as a user would type it (the commands are
printed), so a run is also a worked example; every step resumes (see :mod:`dynaflip.pipeline.steps`). Steps run
in the working directory: a relative ``output_dir`` and recipe paths are read from there, and recipes that are
not found there come from the shipped ones (:mod:`dynaflip.pipeline.recipes`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from dynaflip import remote_io
from dynaflip.config import dump_yaml

from .config import PipelineConfig, calibration_name
from .recipes import find_recipe
from .steps import StepRunner


def _cli(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def output_root(config: PipelineConfig) -> Path:
    return Path(config.output_dir).resolve()


def pretraining_data(config: PipelineConfig, out: Path) -> Path | str:
    """Where the encoders pre-train: the run's own extraction folder, or ``data.shards`` as given (a local
    folder, made absolute, or a URL prefix passed through untouched to the trainer and the visualiser)."""
    if config.data.shards is None:
        return out / "data" / "metaworld"
    if remote_io.is_remote(config.data.shards):
        return config.data.shards
    return Path(config.data.shards).expanduser().resolve()


def policy_encoders(config: PipelineConfig, runs: Path) -> dict[str, str]:
    """Result-folder name -> encoder spec for the policy suite: trained runs, extras, the floor, calibration."""
    encoders = {name: str(runs / name / "export") for name in config.run_names()}
    encoders.update(config.extra_encoders)
    encoders["random"] = config.random_encoder
    encoders.update({calibration_name(spec): spec for spec in config.policy.calibration})
    return encoders


def run_pipeline(config: PipelineConfig, *, title: str = "DynaFLIP demo") -> Path:
    """Run (or continue) every step; returns the report folder."""
    recipe, policy_config = find_recipe(config.train.recipe), find_recipe(config.policy.config)  # before any work
    out = output_root(config)
    out.mkdir(parents=True, exist_ok=True)
    dump_yaml(config, out / "pipeline-config.yaml")
    data, runs, results, report = pretraining_data(config, out), out / "runs", out / "results", out / "report"
    training_runs = config.run_names()
    encoders = policy_encoders(config, runs)
    steps = StepRunner(out_dir=out, cwd=Path.cwd(), total=6 + len(training_runs) + len(encoders))
    tasks = ",".join(config.data.tasks)

    seed_option = [] if config.data.first_seed is None else ["--seed", str(config.data.first_seed)]
    if config.data.shards is None:
        steps.run(
            "extract", "simulated robot videos -> triplet shards",
            [*_cli("dynaflip.extract.cli"), "metaworld", "--out", data, "--tasks", tasks,
             "--episodes-per-task", config.data.episodes_per_task, "--image-size", config.data.image_size,
             "--workers", config.data.workers, *seed_option, *config.data.extract_overrides],
            outputs=[data / "manifest.json"],
        )  # fmt: skip
    else:
        steps.total -= 1
        print(f"\npre-training data: {data} (data.shards; not extracted by this run)", flush=True)
    steps.run(
        "tracks", "draw example tracks and 3D flow",
        [*_cli("dynaflip.extract.cli"), "visualize", data, "--out", report / "tracks", "--count", "4"],
        outputs=[report / "tracks"],
    )  # fmt: skip
    trainer = (
        [*config.train.launcher, "-m", "dynaflip.train.cli"] if config.train.launcher else _cli("dynaflip.train.cli")
    )
    for name, (arm, seed) in training_runs.items():
        what = f"the {arm.name} encoder" + (f", pre-training seed {seed}" if len(arm.seeds) > 1 else "")
        steps.run(
            f"train-{name}", f"train {what} (shared backbone, data and steps)",
            [*trainer, "--config", recipe, "--resume", "auto", f"data.shards=[{{path: {data}}}]",
             f"runtime.steps={config.train.steps}", f"runtime.seed={seed}", *config.train.overrides,
             *arm.overrides, f"runtime.output_dir={runs / name}"],
            outputs=[runs / name / "export" / "model.safetensors"],
        )  # fmt: skip
    probe, probe_data = config.probe, out / "data" / "probe"
    steps.run(
        "probe-data", "render the probe dataset (ground-truth state; OOD re-renders of the test states)",
        [*_cli("dynaflip.eval.probe_cli"), "build-data", "--out", probe_data,
         "--tasks", ",".join(probe.tasks or config.data.tasks), "--episodes-per-task", probe.episodes_per_task,
         "--val-episodes", probe.val_episodes, "--test-episodes", probe.test_episodes,
         "--frames-per-episode", probe.frames_per_episode, "--image-size", probe.image_size,
         "--workers", probe.workers, *probe.build_options],
        outputs=[probe_data / "dataset.json"],
    )  # fmt: skip
    image_encoders = [spec for name, spec in encoders.items() if spec not in config.policy.calibration]
    steps.run(
        "probes", "linear probes, ID and OOD",
        [*_cli("dynaflip.eval.probe_cli"), "run", "--data", probe_data,
         *(arg for spec in image_encoders for arg in ("--encoder", spec)), "--out", results / "probe",
         "--seeds", probe.seeds, "--cache", out / "cache" / "features", *probe.run_options],
        outputs=[results / "probe"],
    )  # fmt: skip
    for name, spec in encoders.items():
        kind = "calibration row" if spec in config.policy.calibration else "frozen encoder"
        steps.run(
            f"policy-{name}", f"policy transfer, {kind} {name}, ID and OOD",
            [*_cli("dynaflip.eval.policy_cli"), "run", "--encoder", spec, "--out", results / "policy" / name,
             "--config", policy_config, f"runtime.cache_dir={out / 'cache' / 'policy'}",
             *config.policy.overrides],
            outputs=[results / "policy" / name / "results.json"],
        )  # fmt: skip
    steps.run("losses", "loss curves", [*_cli("dynaflip.pipeline.losses"), runs, "--out", report])
    report_command = [
        *_cli("dynaflip.eval.report_cli"), results, "--out", report, "--baseline", config.baseline_run(),
    ]  # fmt: skip
    if config.latency:
        report_command.append("--latency")
    steps.run("report", "comparison report", report_command)
    if config.publish:
        steps.total += 1
        names = ", ".join(f"{item.name}@{item.tag}" for item in config.publish)
        steps.run("publish", f"publish {names} (weights, model card, registry entry)",
                  [*_cli("dynaflip.pipeline.publish"), out])  # fmt: skip
    print(f"\n{title} finished in {steps.minutes:.1f} min. Report: {report / 'report.md'}")
    return report
