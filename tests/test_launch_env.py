"""How a training process reads the site's launch environment: the GPU it picks among the visible devices
(CUDA_VISIBLE_DEVICES simulated as Slurm sets it with --gpus-per-task / --gpu-bind), Slurm's ranks, CPUs and
NCCL defaults, and the srun-less start that must stop at once instead of waiting for ranks that never come."""

import subprocess
import time

import pytest

from dynaflip.distributed import cuda_device_index, visible_cuda_devices
from dynaflip.train.launch import (
    LaunchError,
    apply_slurm_environment,
    check_slurm_launch,
    cpus_per_task,
    pick_cuda_device,
    slurm_threads,
    tasks_on_this_node,
)
from tests.helpers.training import REPO, environment, train_command


@pytest.mark.parametrize(
    ("visible", "device_count", "local_rank", "expected"),
    [
        ("0", 8, 3, 0),  # --gpus-per-task=1 with device cgroups: every task sees its GPU as 0
        ("5", 8, 5, 0),  # --gpu-bind=single without cgroups: the task's one GPU, whatever its number
        ("GPU-1a2b,GPU-3c4d", 8, 1, 1),  # UUIDs: the local rank indexes into them
        ("0,1,2,3", 4, 2, 2),  # the whole node visible to every task: the local rank is the device
        ("2,3", 4, 3, 1),  # two GPUs per task: still one of the task's own
        (None, 4, 3, 3),  # no CUDA_VISIBLE_DEVICES: torch's count
        (None, 1, 3, 0),
        ("", 4, 0, None),  # hidden GPUs: the CPU
        ("0,-1,1", 4, 1, 0),  # CUDA stops at the first negative entry
        (None, 0, 2, None),  # no GPU at all
    ],
)
def test_device_index_comes_from_the_visible_devices(visible, device_count, local_rank, expected):
    assert cuda_device_index(local_rank=local_rank, visible_devices=visible, device_count=device_count) == expected


def test_visible_devices_parse_like_cuda():
    assert visible_cuda_devices(None) is None
    assert visible_cuda_devices("") == []
    assert visible_cuda_devices(" 1, 3") == ["1", "3"]
    assert visible_cuda_devices("1,,3") == ["1"]


def slurm_task(procid: int, *, tasks: int = 2, **extra: str) -> dict[str, str]:
    """The variables srun gives task ``procid`` of a ``tasks``-task step on one node (as on the local cluster)."""
    return {
        "SLURM_JOB_ID": "123",
        "SLURM_NTASKS": str(tasks),
        "SLURM_PROCID": str(procid),
        "SLURM_LOCALID": str(procid),
        "SLURM_NODEID": "0",
        "SLURM_STEP_ID": "0",
        "SLURM_STEP_NUM_TASKS": str(tasks),
        "SLURM_STEP_TASKS_PER_NODE": str(tasks),
        "SLURM_JOB_NODELIST": "localhost",
        **extra,
    }


def test_srun_task_becomes_a_rank_that_picks_its_own_gpu():
    env = slurm_task(1, CUDA_VISIBLE_DEVICES="0")  # --gpus-per-task=1: task 1 sees one GPU 0
    assert apply_slurm_environment(env)
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"]) == ("1", "2", "1", "2")
    assert env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "1"
    assert pick_cuda_device(env, device_count=1) == 0
    env = slurm_task(1, CUDA_VISIBLE_DEVICES="0,1")  # --gpus-per-node=2, no binding
    apply_slurm_environment(env)
    assert pick_cuda_device(env, device_count=2) == 1


def test_site_settings_win_and_step_size_is_the_world():
    env = slurm_task(0, TORCH_NCCL_ASYNC_ERROR_HANDLING="3", NCCL_SOCKET_IFNAME="ib0", MASTER_PORT="29999")
    env["SLURM_NTASKS"] = "4"  # the allocation; this srun step runs 2 of them
    apply_slurm_environment(env)
    assert env["WORLD_SIZE"] == "2"
    assert (env["TORCH_NCCL_ASYNC_ERROR_HANDLING"], env["NCCL_SOCKET_IFNAME"], env["MASTER_PORT"]) == (
        "3",
        "ib0",
        "29999",
    )
    torchrun = slurm_task(1, RANK="5", WORLD_SIZE="8", LOCAL_RANK="1")
    assert not apply_slurm_environment(torchrun)  # torchrun's variables win
    assert torchrun["RANK"] == "5"


def test_one_task_step_is_not_distributed():
    env = slurm_task(0, tasks=1)
    env["SLURM_NTASKS"] = "2"  # srun -n1 inside a two-task allocation
    assert not apply_slurm_environment(env)
    assert "RANK" not in env


@pytest.mark.parametrize(
    ("spec", "node", "expected"), [("4", "0", 4), ("4(x2),3", "1", 4), ("4(x2),3", "2", 3), ("x", "0", None)]
)
def test_tasks_on_this_node(spec, node, expected):
    assert tasks_on_this_node({"SLURM_STEP_TASKS_PER_NODE": spec, "SLURM_NODEID": node}) == expected


def test_cpus_per_task_prefers_srun_s_variable():
    assert cpus_per_task({"SLURM_CPUS_PER_TASK": "8", "SRUN_CPUS_PER_TASK": "6"}) == 6
    assert cpus_per_task({"SLURM_CPUS_PER_TASK": "8"}) == 8
    assert cpus_per_task({}) is None
    assert slurm_threads({"SLURM_JOB_ID": "1", "SRUN_CPUS_PER_TASK": "6"}) == 6
    assert slurm_threads({"SLURM_JOB_ID": "1", "SRUN_CPUS_PER_TASK": "6", "OMP_NUM_THREADS": "2"}) is None
    assert slurm_threads({"SRUN_CPUS_PER_TASK": "6"}) is None  # not in a Slurm job


@pytest.mark.parametrize(
    "env",
    [
        # the batch script of an --ntasks=2 job: Slurm gives it SLURM_PROCID=0 but no job step
        {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "2", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"},
        # a shell of salloc -n 2 on the login node
        {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "2"},
    ],
)
def test_srun_less_start_in_a_multi_task_allocation_is_refused(env):
    with pytest.raises(LaunchError, match=r"without srun inside a 2-task Slurm allocation .* 'srun python"):
        check_slurm_launch(env)
    with pytest.raises(LaunchError):
        apply_slurm_environment(dict(env))
    check_slurm_launch({**env, "SLURM_NTASKS": "1"})  # one task: fine
    check_slurm_launch({**env, "RANK": "0", "WORLD_SIZE": "2"})  # torchrun inside the allocation: fine


def test_srun_less_training_exits_at_once_with_one_line(tmp_path):
    env = environment()
    env.update(SLURM_JOB_ID="7", SLURM_NTASKS="2", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_JOB_NODELIST="localhost")
    start = time.perf_counter()
    result = subprocess.run(
        train_command([f"runtime.output_dir={tmp_path / 'run'}", "data.shards=[{path: /nonexistent}]"]),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    seconds = time.perf_counter() - start
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "without srun inside a 2-task Slurm allocation" in lines[0], result.stderr
    assert seconds < 60  # the interpreter's imports; without the check it waited for rank 1 for good
    assert not (tmp_path / "run").exists()
