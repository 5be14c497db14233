"""slurm/train.sbatch on a real single-node Slurm cluster (Debian's slurm-wlm and munge, started here): two CPU
tasks train on simulated shards, are preempted (USR1 to the batch script before the time limit, or SIGTERM to
the tasks as a preemption sends it), requeue themselves and resume to the end; the environment setup hook; the
GPU each srun task picks when Slurm shows it only its own (CUDA_VISIBLE_DEVICES as --gpus-per-task sets it);
and one process started without srun in a two-task allocation, which must stop at once with a clear line."""

import json
import subprocess
import sys
import time

import pytest

from tests.helpers.slurm import LocalSlurm, slurm_available
from tests.helpers.training import REPO, TINY, environment, metrics

available, reason = slurm_available()
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(not available, reason=reason)]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm") / "state")
    yield cluster
    cluster.stop()


def slurm_env(slurm) -> dict[str, str]:
    env = slurm.env(environment())
    for name in ("DYNAFLIP_PYTHON", "DYNAFLIP_SETUP"):
        env.pop(name, None)
    return env


def submit(slurm, env, *args) -> str:
    result = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split(";")[0]


def preempt_and_finish(slurm, env, job, out, log_file, signal_args) -> str:
    """Signal the job once training is under way, let it requeue itself, release it, and wait for the end."""
    deadline = time.time() + 300
    while time.time() < deadline and not ((out / "metrics.jsonl").is_file() and max(metrics(out), default=0) >= 3):
        assert slurm.job_state(job) in ("PENDING", "RUNNING", "CONFIGURING"), log_file.read_text()
        time.sleep(0.5)
    subprocess.run(["scancel", *signal_args, job], env=env, check=True)
    # Slurm holds a requeued job back for a while (its begin time); release it as an operator would.
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "checkpoints").glob("step-*")):
        time.sleep(0.5)
    while time.time() < deadline and slurm.job_state(job) not in ("PENDING", "COMPLETED", "FAILED"):
        time.sleep(0.5)
    # Release only once the node has cleaned up the first run, and in a later second than the requeue:
    # slurmd refuses a credential issued in the same second as the one it revoked ("Job credential revoked"),
    # which is the race Slurm's own requeue delay avoids.
    time.sleep(2)
    while time.time() < deadline and not slurm.node_state().startswith("IDLE"):
        time.sleep(0.5)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], env=env, check=False)
    return slurm.wait(job, timeout=600)


def check_resumed_run(out, log, *, steps):
    assert "requeueing job" in log
    checkpoints = sorted((out / "checkpoints").glob("step-*"))
    saved = [json.loads((c / "trainer_state.json").read_text())["step"] for c in checkpoints]
    assert saved[-1] == steps and len(saved) == 2  # the preemption checkpoint and the final one
    assert 3 <= saved[0] < steps
    assert json.loads((checkpoints[-1] / "trainer_state.json").read_text())["world_size"] == 2
    assert sorted(metrics(out)) == list(range(1, steps + 1))
    assert f"resumed from {checkpoints[0]}" in log
    assert (out / "export" / "model.safetensors").is_file()


def training_overrides(shards, steps):
    return [
        f"data.shards=[{{path: {shards}}}]", "model.grid_size=8", "data.batch_size=4", "data.workers=0",
        f"runtime.steps={steps}", "runtime.checkpoint_every=1000",
    ]  # fmt: skip


def test_sbatch_trains_two_tasks_survives_preemption_and_exports(slurm, metaworld_shards, tmp_path):
    out = tmp_path / "run"
    env = slurm_env(slurm)
    env["DYNAFLIP_PYTHON"] = sys.executable
    log_file = tmp_path / "slurm.out"
    job = submit(
        slurm, env, "--ntasks=2", "--cpus-per-task=1", f"--output={log_file}", str(REPO / "slurm/train.sbatch"),
        TINY[1], *TINY[2:], *training_overrides(metaworld_shards, 60), f"runtime.output_dir={out}",
    )  # fmt: skip
    # USR1 to the batch script, as --signal=B:USR1@300 sends it before the time limit.
    final = preempt_and_finish(slurm, env, job, out, log_file, ["--signal=USR1", "--batch"])
    log = log_file.read_text(errors="replace")
    assert final == "COMPLETED", log[-4000:]
    assert "USR1 received" in log
    check_resumed_run(out, log, steps=60)


def test_sigterm_preemption_requeues_with_the_setup_hook_and_a_per_job_folder(slurm, metaworld_shards, tmp_path):
    # The site's environment comes from a setup script (module load / conda activate stand-in): it puts a
    # `python` on PATH; neither DYNAFLIP_PYTHON nor a .venv lookup is used.
    bin_dir = tmp_path / "env" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (bin_dir / "python").chmod(0o755)
    setup = tmp_path / "setup.sh"
    setup.write_text(f'echo "setup hook ran on $(hostname)"\nexport PATH="{bin_dir}:$PATH"\n')
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"_base_: {REPO / 'configs/train/tiny-cpu.yaml'}\nruntime: {{output_dir: {tmp_path / 'runs'}}}\n")
    env = slurm_env(slurm)
    env["DYNAFLIP_SETUP"] = str(setup)
    log_file = tmp_path / "slurm.out"
    job = submit(
        slurm, env, "--ntasks=2", "--cpus-per-task=1", f"--output={log_file}", str(REPO / "slurm/train.sbatch"),
        str(recipe), *TINY[2:], *training_overrides(metaworld_shards, 40),
    )  # fmt: skip
    out = tmp_path / "runs" / f"job-{job}"  # one folder per job by default
    # SIGTERM to the tasks only, as a preemption sends it (the batch script never sees it).
    final = preempt_and_finish(slurm, env, job, out, log_file, ["--signal=TERM"])
    log = log_file.read_text(errors="replace")
    assert final == "COMPLETED", log[-4000:]
    assert log.count("setup hook ran on") == 2  # sourced at each start, before anything else
    assert f"python {bin_dir / 'python'}" in log
    check_resumed_run(out, log, steps=40)
    assert (out / "config-history" / "config.2.yaml").is_file()  # the restart's config, kept


def test_cancelled_job_is_not_requeued(slurm, metaworld_shards, tmp_path):
    out = tmp_path / "run"
    env = slurm_env(slurm)
    env["DYNAFLIP_PYTHON"] = sys.executable
    log_file = tmp_path / "slurm.out"
    job = submit(
        slurm, env, "--ntasks=1", "--cpus-per-task=1", f"--output={log_file}", str(REPO / "slurm/train.sbatch"),
        TINY[1], *TINY[2:], *training_overrides(metaworld_shards, 500), f"runtime.output_dir={out}",
    )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "metrics.jsonl").is_file():
        time.sleep(0.5)
    subprocess.run(["scancel", job], env=env, check=True)
    assert slurm.wait(job, timeout=120) == "CANCELLED"
    time.sleep(3)
    assert slurm.job_state(job) == "CANCELLED"
    assert "requeueing job" not in log_file.read_text(errors="replace")


PICK = """import os
from dynaflip.train.launch import apply_slurm_environment, pick_cuda_device
apply_slurm_environment()
e = os.environ
device = pick_cuda_device(device_count=0)  # no GPU here: only CUDA_VISIBLE_DEVICES decides
print("task", e["RANK"], e["WORLD_SIZE"], e["CUDA_VISIBLE_DEVICES"], device, e["TORCH_NCCL_ASYNC_ERROR_HANDLING"])
"""


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("$SLURM_LOCALID", {"0": "0", "1": "0"}),  # --gpus-per-task=1 / --gpu-bind: each task sees only its own
        ("0,1", {"0": "0", "1": "1"}),  # --gpus-per-node=2 without binding: the local rank indexes
    ],
)
def test_srun_tasks_pick_their_gpu_among_the_visible_ones(slurm, tmp_path, visible, expected):
    env = slurm_env(slurm)
    log_file = tmp_path / "slurm.out"
    (tmp_path / "pick.py").write_text(PICK)
    script = f"srun bash -c 'export CUDA_VISIBLE_DEVICES={visible}; exec {sys.executable} {tmp_path / 'pick.py'}'"
    job = submit(slurm, env, "--ntasks=2", "--cpus-per-task=1", f"--output={log_file}", "--wrap", script)
    assert slurm.wait(job, timeout=120) == "COMPLETED", log_file.read_text()
    rows = [line.split()[1:] for line in log_file.read_text().splitlines() if line.startswith("task ")]
    assert sorted(rank for rank, *_ in rows) == ["0", "1"]
    for rank, world, _visible, device, nccl in rows:
        assert (world, device, nccl) == ("2", expected[rank], "1")


def test_training_started_without_srun_in_a_two_task_job_stops_at_once(slurm, metaworld_shards, tmp_path):
    env = slurm_env(slurm)
    log_file = tmp_path / "slurm.out"
    command = [
        sys.executable, "-m", "dynaflip.train.cli", *TINY, *training_overrides(metaworld_shards, 5),
        f"runtime.output_dir={tmp_path / 'run'}",
    ]  # fmt: skip
    wrap = " ".join(f"'{part}'" for part in command)
    start = time.time()
    job = submit(slurm, env, "--ntasks=2", "--cpus-per-task=1", f"--output={log_file}", "--wrap", wrap)
    state = slurm.wait(job, timeout=120)
    seconds = time.time() - start
    log = log_file.read_text()
    assert state == "FAILED", log
    assert f"started without srun inside a 2-task Slurm allocation (job {job}" in log
    assert "srun python -m dynaflip.train.cli" in log
    assert seconds < 60, f"{seconds:.0f} s"
    assert not (tmp_path / "run").exists()
