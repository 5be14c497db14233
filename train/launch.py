"""Process-group environment from Slurm: one Slurm task per GPU (or CPU rank).

``srun`` starts one task per process; each maps SLURM_PROCID / SLURM_LOCALID / SLURM_NTASKS onto
RANK / LOCAL_RANK / WORLD_SIZE, and takes the first host of the job as the rendezvous address. This is
open_clip's scheme; it works the same for one node and many, on GPUs and on CPUs (where
``accelerate launch`` would start a single process). Variables already set (by torchrun or accelerate
launch) win.
"""

from __future__ import annotations

import os
import subprocess


def first_host(nodelist: str) -> str:
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
        return out.stdout.split()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return nodelist.split(",")[0].split("[")[0]


def apply_slurm_environment(environ: dict[str, str] | None = None) -> bool:
    """Fill the torch.distributed variables from Slurm's; True when it did."""
    env = os.environ if environ is None else environ
    if "RANK" in env or "SLURM_PROCID" not in env or int(env.get("SLURM_NTASKS", "1")) <= 1:
        return False
    env["RANK"] = env["SLURM_PROCID"]
    env["WORLD_SIZE"] = env["SLURM_NTASKS"]
    env["LOCAL_RANK"] = env.get("SLURM_LOCALID", "0")
    env.setdefault("MASTER_ADDR", first_host(env.get("SLURM_JOB_NODELIST", "127.0.0.1")))
    env.setdefault("MASTER_PORT", str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000))
    return True
