"""Run a pipeline's steps as subprocesses: print each command, time it (wall and CPU), skip what is done.

A step that finished with the same command and whose outputs all exist is skipped on a rerun, so an
interrupted run (a killed session, a preempted job) continues where it stopped; steps whose tools resume by
themselves (extraction, training) continue from their own checkpoints. ``timing.json`` records each step's
wall time and CPU time (user + system of its process tree) for the attempt that completed it (an interrupted
attempt's time is not counted), the software versions and the commit.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shlex
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dynaflip.errors import DynaflipError
from dynaflip.io import atomic_write_json

from .cpu_meter import ProcessTreeCpu, children_rusage_seconds

STAMPS = ".steps"
TIMING_FILE = "timing.json"
VERSIONED = ("torch", "torchvision", "timm", "mujoco", "metaworld", "numpy", "accelerate", "deepspeed", "webdataset")


class StepFailed(DynaflipError, RuntimeError):
    """A step's command exited non-zero; the message names the step and the exit code."""


def software_versions() -> dict[str, str]:
    """Versions of the packages that shape the numbers (simulators included: they change rendering)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("dynaflip", *VERSIONED):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(repo: Path) -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, timeout=10)
    return done.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


class StepRunner:
    """Numbered, timed, resumable steps; ``total`` is the number of steps the run will announce."""

    def __init__(self, *, out_dir: Path, cwd: Path, total: int) -> None:
        self.out_dir = out_dir
        self.cwd = cwd
        self.total = total
        self.index = 0
        self.start = time.perf_counter()
        self.timing_path = out_dir / TIMING_FILE
        previous = json.loads(self.timing_path.read_text()) if self.timing_path.is_file() else {}
        self.steps: dict[str, dict[str, Any]] = previous.get("steps", {})
        self.header = {"software": software_versions(), "commit": git_commit(cwd)}

    def run(self, name: str, title: str, command: Sequence[str], *, outputs: Sequence[Path] = ()) -> bool:
        """Run ``command`` unless it already finished with these arguments and left ``outputs``; True if run."""
        self.index += 1
        command = [str(part) for part in command]
        prefix = f"[{self.index}/{self.total}]"
        stamp = self.out_dir / STAMPS / f"{name}.json"
        digest = hashlib.sha256("\0".join(command).encode()).hexdigest()
        if outputs and stamp.is_file() and all(Path(path).exists() for path in outputs):
            if json.loads(stamp.read_text()).get("command_sha256") == digest:
                print(f"\n{prefix} {title}: done earlier, skipped (delete {stamp} to redo)", flush=True)
                return False
        print(f"\n{prefix} {title}\n$ {shlex.join(command)}", flush=True)
        started, cpu_before = time.perf_counter(), children_rusage_seconds()
        with subprocess.Popen(command, cwd=self.cwd) as process:
            meter = ProcessTreeCpu(process.pid)
            try:
                returncode = process.wait()
            finally:
                polled = meter.stop()
        wall = time.perf_counter() - started
        cpu = max(children_rusage_seconds() - cpu_before, polled)
        if returncode != 0:
            raise StepFailed(f"step {self.index} ({title}) failed with exit code {returncode}")
        print(f"{prefix} done in {wall:.0f} s ({cpu / 3600:.2f} CPU-hours)", flush=True)
        entry = {"title": title, "command": shlex.join(command), "wall_seconds": round(wall, 1),
                 "cpu_seconds": round(cpu, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                 "commit": self.header["commit"]}  # fmt: skip  # a resumed run's steps may span commits
        self.steps[name] = entry
        atomic_write_json(self.timing_path, {**self.header, "steps": self.steps})
        if outputs:
            atomic_write_json(stamp, {"command_sha256": digest, "command": entry["command"]})
        return True

    @property
    def minutes(self) -> float:
        return (time.perf_counter() - self.start) / 60
