"""A real single-node Slurm cluster for the duration of a test (scripts/slurm-local.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.helpers.training import REPO


def slurm_available() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "starting slurmctld/slurmd needs root"
    missing = [tool for tool in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(tool) is None]
    if missing:
        return False, f"not installed: {', '.join(missing)} (scripts/setup.sh --dev installs slurm-wlm and munge)"
    return True, ""


class LocalSlurm:
    def __init__(self, state: Path) -> None:
        self.state = state
        result = subprocess.run(
            [str(REPO / "scripts/slurm-local.sh"), "start", str(state)], capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"slurm-local.sh start failed:\n{result.stdout}\n{result.stderr}")
        self.conf = result.stdout.strip().splitlines()[-1]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return dict(base, SLURM_CONF=self.conf)

    def job_state(self, job: str) -> str:
        out = subprocess.run(
            ["scontrol", "show", "job", job], capture_output=True, text=True, env=self.env(dict(os.environ))
        ).stdout
        for field in out.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        return "UNKNOWN"

    def node_state(self) -> str:
        """State of the cluster's one node, e.g. IDLE, ALLOCATED, COMPLETING (UNKNOWN if it cannot be read)."""
        out = subprocess.run(
            ["scontrol", "show", "node"], capture_output=True, text=True, env=self.env(dict(os.environ))
        ).stdout
        for field in out.split():
            if field.startswith("State="):
                return field.split("=", 1)[1]
        return "UNKNOWN"

    def wait(self, job: str, *, timeout: float = 600) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.job_state(job)
            if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
                return state
            time.sleep(1)
        raise TimeoutError(f"job {job} still {self.job_state(job)} after {timeout} s")

    def stop(self) -> None:
        subprocess.run([str(REPO / "scripts/slurm-local.sh"), "stop", str(self.state)], timeout=120)
