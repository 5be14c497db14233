"""``dynaflip-policy calibrate``: keep the candidate tasks on which the instrument can tell encoders apart.

For each candidate task, in distribution and at the config's settings, three encoders go through the same
behaviour cloning: the oracle (``oracle:state``, the simulator's state: the ceiling), the blind policy
(``blind``, proprioception only: the floor) and a random image encoder (``calibration.random_encoder``). A
task is kept when the oracle reaches ``calibration.oracle_min`` success (the task is learnable by this BC
from these demos) and the random encoder stays at or below ``calibration.random_max`` (an encoder that knows
nothing does not already solve it).

Each (encoder, task) is an ordinary policy run in ``OUT/runs/<role>/<task>/`` (results.json, rollouts.jsonl);
a rerun reuses every finished run whose settings match, so a killed calibration resumes where it stopped.
The oracle is physics only and cheap; it runs on every candidate first, in this process (a worker pool
would cost more to start than its rollouts take). The blind policy and the random encoder (which renders
every frame) then run only where the oracle passed (unless ``only_where_oracle_passes`` is false): elsewhere
the task is rejected whatever they score. After every run ``calibration.json`` and ``calibration.md`` are
rewritten with the evidence so far.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dynaflip.config import to_dict
from dynaflip.io import atomic_write_json, atomic_write_text

from ..stats import wilson_interval
from .config import ID_SPLIT, PolicyConfig, validate
from .evaluate import run_policy_eval
from .features import open_encoder
from .state_encoders import BLIND_SPEC, ORACLE_SPEC

ROLES = ("oracle", "blind", "random")
IGNORED_SECTIONS = ("runtime", "calibration")  # settings that do not change a run's outcomes


@dataclass
class TaskScore:
    """One encoder's in-distribution success on one task: ``low``/``high`` the 95 % Wilson interval over its
    rollouts (every rollout its own episode: BC seeds roll out different episodes)."""

    role: str
    spec: str
    successes: int
    rollouts: int
    rate: float
    low: float
    high: float
    per_seed: list[float]
    seconds: float
    reused: bool = False

    def text(self) -> str:
        interval = f"[{100 * self.low:.0f}, {100 * self.high:.0f}]"
        return f"{100 * self.rate:.0f} % {interval} ({self.successes}/{self.rollouts})"


@dataclass
class TaskVerdict:
    task: str
    scores: dict[str, TaskScore] = field(default_factory=dict)
    status: str = "pending"  # kept | rejected | pending
    reason: str = ""


def _task_config(config: PolicyConfig, task: str) -> PolicyConfig:
    """The config of one calibration run: this task, in distribution only."""
    single = copy.deepcopy(config)
    single.tasks = [task]
    single.rollout.shifts = []
    single.calibration.candidates = []
    return single


def _settings_key(config: PolicyConfig) -> dict[str, Any]:
    data = to_dict(config)
    return {key: value for key, value in data.items() if key not in IGNORED_SECTIONS}


def _finished(run_dir: Path, config: PolicyConfig, spec: str) -> dict[str, Any] | None:
    """The results.json of a finished run with the same settings and encoder, else None."""
    path = run_dir / "results.json"
    if not path.is_file() or not (run_dir / "rollouts.jsonl").is_file():
        return None
    try:
        data = json.loads(path.read_text())
        stored = {key: value for key, value in data["config"].items() if key in _settings_key(config)}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: run it again
    if data.get("encoder", {}).get("spec") != spec or stored != _settings_key(config):
        return None
    return data


def _score(role: str, spec: str, task: str, run_dir: Path, seconds: float) -> TaskScore:
    records = [json.loads(line) for line in (run_dir / "rollouts.jsonl").read_text().splitlines() if line.strip()]
    records = [record for record in records if record["task"] == task and record["split"] == ID_SPLIT]
    if not records:
        raise ValueError(f"{run_dir / 'rollouts.jsonl'}: no in-distribution rollouts of {task}")
    per_seed = []
    for seed in sorted({record["policy_seed"] for record in records}):
        outcomes = [bool(record["success"]) for record in records if record["policy_seed"] == seed]
        per_seed.append(sum(outcomes) / len(outcomes))
    successes = sum(bool(record["success"]) for record in records)
    rate, low, high = wilson_interval(successes, len(records))
    return TaskScore(
        role=role,
        spec=spec,
        successes=successes,
        rollouts=len(records),
        rate=rate,
        low=low,
        high=high,
        per_seed=per_seed,
        seconds=seconds,
    )


def _judge(verdict: TaskVerdict, config: PolicyConfig) -> None:
    calibration = config.calibration
    oracle, random = verdict.scores.get("oracle"), verdict.scores.get("random")
    if oracle is not None and oracle.rate < calibration.oracle_min:
        verdict.status = "rejected"
        verdict.reason = f"oracle {100 * oracle.rate:.0f} % < {100 * calibration.oracle_min:.0f} %"
    elif oracle is not None and random is not None and random.rate > calibration.random_max:
        verdict.status = "rejected"
        verdict.reason = f"random {100 * random.rate:.0f} % > {100 * calibration.random_max:.0f} %"
    elif oracle is not None and random is not None:
        verdict.status, verdict.reason = "kept", ""
    else:
        verdict.status, verdict.reason = "pending", "not run yet"


@dataclass
class CalibrationResult:
    out_dir: Path
    verdicts: list[TaskVerdict]
    settings: dict[str, Any]
    seconds: float
    errors: list[str] = field(default_factory=list)  # runs that failed: "task role: reason"

    @property
    def kept(self) -> list[str]:
        return [verdict.task for verdict in self.verdicts if verdict.status == "kept"]

    def to_json(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "rejected": {v.task: v.reason for v in self.verdicts if v.status == "rejected"},
            "pending": [v.task for v in self.verdicts if v.status == "pending"],
            "errors": self.errors,
            "settings": self.settings,
            "seconds": self.seconds,
            "tasks": [
                {
                    "task": v.task,
                    "status": v.status,
                    "reason": v.reason,
                    "scores": {role: asdict(score) for role, score in v.scores.items()},
                }
                for v in self.verdicts
            ],
        }


def calibration_settings(config: PolicyConfig) -> dict[str, Any]:
    """What the verdicts depend on, in the words of calibration.md."""
    return {
        "oracle_min": config.calibration.oracle_min,
        "random_max": config.calibration.random_max,
        "encoders": {"oracle": ORACLE_SPEC, "blind": BLIND_SPEC, "random": config.calibration.random_encoder},
        "image_size": config.render.image_size,
        "camera": config.render.camera,
        "demos_per_task": config.demos.per_task,
        "validation_demos": config.demos.validation,
        "bc_epochs": config.bc.epochs,
        "bc_seeds": list(config.bc.seeds),
        "bc_select": config.bc.select,
        "bc_std_floor": config.bc.std_floor,
        "bc_input_clip": config.bc.input_clip,
        "bc_input_transform": config.bc.input_transform,
        "bc_transform_width": config.bc.transform_width,
        "episodes_per_seed": config.rollout.episodes,
        "horizon": config.rollout.horizon,
        "episode_seed_scheme": config.episode_seed_scheme(),
        "split": ID_SPLIT,
        "only_where_oracle_passes": config.calibration.only_where_oracle_passes,
        "random_order": config.calibration.random_order,
    }


def _transform(settings: dict[str, Any]) -> str:
    """The input transform in words; calibrations written before transforms existed standardised."""
    transform = settings.get("bc_input_transform", "standardise")
    return f"{transform} to {settings.get('bc_transform_width')}" if transform == "pca_whiten" else transform


def calibration_markdown(result: CalibrationResult) -> str:
    settings = result.settings
    encoders = settings["encoders"]
    lines = [
        "# Policy task calibration",
        "",
        f"Kept: **{', '.join(result.kept) or 'none yet'}**.",
        "",
        f"Of {len(result.verdicts)} candidates: {len(result.kept)} kept, "
        f"{sum(v.status == 'rejected' for v in result.verdicts)} rejected, "
        f"{sum(v.status == 'pending' for v in result.verdicts)} not calibrated (their runs were not made: "
        f"{', '.join(v.task for v in result.verdicts if v.status == 'pending') or 'none'}).",
        "",
        f"A task is kept when the oracle (`{encoders['oracle']}`) reaches >= {100 * settings['oracle_min']:.0f} % "
        f"success and the random encoder (`{encoders['random']}`) stays <= {100 * settings['random_max']:.0f} %, "
        f"in distribution. The blind policy (`{encoders['blind']}`) is shown as the floor.",
        "",
        f"Settings: {settings['image_size']} px '{settings['camera']}' camera, {settings['demos_per_task']} demos per "
        f"task (+{settings['validation_demos']} validation), BC {settings['bc_epochs']} epochs (select "
        f"{settings['bc_select']}, std floor {settings['bc_std_floor']}, input clip {settings['bc_input_clip']}, "
        f"input transform {_transform(settings)}), "
        f"BC seeds {settings['bc_seeds']}, {settings['episodes_per_seed']} episodes per seed, horizon "
        f"{settings['horizon']}; episode seeds {settings['episode_seed_scheme']}.",
        "",
        "Success in % with the 95 % Wilson interval over the rollouts (successes/rollouts; n = BC seeds x episodes "
        "per seed, every rollout its own episode). Verdicts use the point estimates.",
        "",
        "| task | oracle | blind | random | verdict | wall time (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for verdict in result.verdicts:
        cells = []
        for role in ROLES:
            score = verdict.scores.get(role)
            cells.append(score.text() if score is not None else "not run")
        seconds = sum(score.seconds for score in verdict.scores.values())
        status = verdict.status + (f" ({verdict.reason})" if verdict.reason else "")
        lines.append(f"| {verdict.task} | " + " | ".join(cells) + f" | {status} | {seconds:.0f} |")
    if result.errors:
        lines += ["", "Runs that failed (a rerun tries them again): " + "; ".join(result.errors) + "."]
    lines += ["", f"Total wall time of the runs made now: {result.seconds:.0f} s.", ""]
    return "\n".join(lines)


def _write(result: CalibrationResult) -> None:
    atomic_write_json(result.out_dir / "calibration.json", result.to_json())
    atomic_write_text(result.out_dir / "calibration.md", calibration_markdown(result))


def calibrate(
    config: PolicyConfig,
    *,
    out_dir: str | Path,
    log: Callable[[str], None] = print,
) -> CalibrationResult:
    """Calibrate the candidate tasks of ``config`` (see the module docstring); returns the verdicts."""
    validate(config)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates = list(config.calibration.candidates or config.tasks)
    verdicts = {task: TaskVerdict(task=task) for task in candidates}
    result = CalibrationResult(out_dir, list(verdicts.values()), calibration_settings(config), 0.0)
    specs = {"oracle": ORACLE_SPEC, "blind": BLIND_SPEC, "random": config.calibration.random_encoder}
    encoders: dict[str, Any] = {}
    for role in ROLES:
        order = candidates
        if role == "random" and config.calibration.random_order == "blind_first":
            blind_rate = {task: getattr(verdicts[task].scores.get("blind"), "rate", 1.0) for task in candidates}
            order = sorted(candidates, key=lambda task: blind_rate[task])  # stable: ties keep the listed order
        for task in order:
            verdict = verdicts[task]
            if role != "oracle" and config.calibration.only_where_oracle_passes and verdict.status == "rejected":
                continue
            task_config = _task_config(config, task)
            if role != "random":
                task_config.runtime.workers = 1
            run_dir = out_dir / "runs" / role / task
            results = _finished(run_dir, task_config, specs[role])
            mark = time.perf_counter()
            reused = results is not None
            if results is None and role not in config.calibration.roles:
                continue
            if results is None:
                if role not in encoders:
                    encoders[role] = open_encoder(specs[role], last_n=config.features.last_n)
                try:
                    run_policy_eval(task_config, encoder=encoders[role], out_dir=run_dir)
                except (RuntimeError, ValueError, OSError) as error:  # one failed run must not end a long job
                    reason = (str(error).splitlines() or [type(error).__name__])[0]
                    result.errors.append(f"{task} {role}: {reason}")
                    log(f"calibrate: {task} {role}: failed ({reason}); a rerun tries it again")
                    continue
                results = json.loads((run_dir / "results.json").read_text())
            seconds = float(results.get("timing", {}).get("seconds", time.perf_counter() - mark))
            score = _score(role, specs[role], task, run_dir, seconds)
            score.reused = reused
            verdict.scores[role] = score
            _judge(verdict, config)
            result.seconds = time.perf_counter() - started
            _write(result)
            log(f"calibrate: {task} {role}: {score.text()}{' (reused)' if reused else ''} -> {verdict.status}")
    for verdict in verdicts.values():
        _judge(verdict, config)
    result.seconds = time.perf_counter() - started
    _write(result)
    return result
