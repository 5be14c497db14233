"""Process-group environment from Slurm: one Slurm task per GPU (or CPU rank).

``srun`` starts one task per process; each maps SLURM_PROCID / SLURM_LOCALID / the step's task count onto
RANK / LOCAL_RANK / WORLD_SIZE, and takes the first host of the job as the rendezvous address. This is
open_clip's scheme; it works the same for one node and many, on GPUs and on CPUs (where
``accelerate launch`` would start a single process). Variables already set (by torchrun or accelerate
launch) win.

Sites differ in what a task sees, so the rest is read from the live environment: the GPU is picked among
the visible devices (``--gpus-per-task=1`` shows each task one GPU 0), the thread count follows
SRUN_CPUS_PER_TASK / SLURM_CPUS_PER_TASK, and NCCL reports a failed peer instead of hanging
(TORCH_NCCL_ASYNC_ERROR_HANDLING, unless the site set it).
"""

from __future__ import annotations

import os
import subprocess

from dynaflip.errors import DynaflipError

NCCL_DEFAULTS = {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"}


class LaunchError(DynaflipError, ValueError):
    """The process was started in a way that cannot make the world the Slurm allocation asks for."""


def first_host(nodelist: str) -> str:
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
        return out.stdout.split()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return nodelist.split(",")[0].split("[")[0]


def check_slurm_launch(environ: dict[str, str] | None = None) -> None:
    """Refuse one process started inside an N-task allocation without srun (the batch script itself, or a
    shell of ``salloc -n N``): it would announce a world of N and wait for ranks that never start."""
    env = os.environ if environ is None else environ
    if "RANK" in env or "SLURM_JOB_ID" not in env or "SLURM_STEP_ID" in env:
        return
    tasks = int(env.get("SLURM_NTASKS", "1") or "1")
    if tasks > 1:
        raise LaunchError(
            f"started without srun inside a {tasks}-task Slurm allocation (job {env['SLURM_JOB_ID']}, "
            f"SLURM_NTASKS={tasks}, no job step): run it as 'srun python -m dynaflip.train.cli ...' (one process "
            "per task, as slurm/train.sbatch does), or ask for --ntasks=1 to train in one process"
        )


def tasks_on_this_node(environ: dict[str, str]) -> int | None:
    """This node's task count from SLURM_STEP_TASKS_PER_NODE ("4(x2),3" = 4, 4, 3) and SLURM_NODEID."""
    spec = environ.get("SLURM_STEP_TASKS_PER_NODE") or environ.get("SLURM_TASKS_PER_NODE")
    if not spec:
        return None
    counts: list[int] = []
    for part in spec.split(","):
        count, _, repeat = part.partition("(x")
        try:
            counts += [int(count)] * (int(repeat.rstrip(")")) if repeat else 1)
        except ValueError:
            return None
    node = int(environ.get("SLURM_NODEID", "0") or "0")
    return counts[node] if 0 <= node < len(counts) else None


def cpus_per_task(environ: dict[str, str]) -> int | None:
    """CPUs this task may use: SRUN_CPUS_PER_TASK first (srun of Slurm >= 22.05 ignores sbatch's
    --cpus-per-task and reads this instead), then SLURM_CPUS_PER_TASK."""
    for name in ("SRUN_CPUS_PER_TASK", "SLURM_CPUS_PER_TASK"):
        value = environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def slurm_threads(environ: dict[str, str] | None = None) -> int | None:
    """Threads for torch in a Slurm task that did not set OMP_NUM_THREADS itself: its CPUs, else None."""
    env = os.environ if environ is None else environ
    if "SLURM_JOB_ID" not in env or env.get("OMP_NUM_THREADS"):
        return None
    return cpus_per_task(env)


def apply_slurm_environment(environ: dict[str, str] | None = None) -> bool:
    """Fill the torch.distributed variables from Slurm's; True when it did. Refuses an srun-less start in a
    multi-task allocation (LaunchError) and sets the NCCL defaults in a Slurm job."""
    env = os.environ if environ is None else environ
    check_slurm_launch(env)
    if "SLURM_JOB_ID" in env:
        for name, value in NCCL_DEFAULTS.items():
            env.setdefault(name, value)
    world = int(env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or "1")
    if "RANK" in env or "SLURM_PROCID" not in env or world <= 1:
        return False
    env["RANK"] = env["SLURM_PROCID"]
    env["WORLD_SIZE"] = str(world)
    env["LOCAL_RANK"] = env.get("SLURM_LOCALID", "0")
    local_tasks = tasks_on_this_node(env)
    if local_tasks is not None:
        env.setdefault("LOCAL_WORLD_SIZE", str(local_tasks))
    env.setdefault("MASTER_ADDR", first_host(env.get("SLURM_JOB_NODELIST", "127.0.0.1")))
    env.setdefault("MASTER_PORT", str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000))
    return True


def pick_cuda_device(environ: dict[str, str] | None = None, *, device_count: int) -> int | None:
    """The GPU index this process uses among its visible devices (see dynaflip.distributed), or None."""
    from dynaflip.distributed import cuda_device_index  # imports torch: kept out of the launch checks' path

    env = os.environ if environ is None else environ
    return cuda_device_index(
        local_rank=int(env.get("LOCAL_RANK", "0") or "0"),
        visible_devices=env.get("CUDA_VISIBLE_DEVICES"),
        device_count=device_count,
    )
