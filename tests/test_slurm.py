"""slurm/train.sbatch on a real single-node Slurm cluster (Debian's slurm-wlm and munge, started here):
two CPU tasks train on simulated shards, are preempted by USR1, requeue themselves and resume to the end."""

import json
import subprocess
import time

import pytest

from tests.helpers.slurm import LocalSlurm, slurm_available
from tests.helpers.training import REPO, TINY, environment, metrics

available, reason = slurm_available()
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(not available, reason=reason)]


@pytest.fixture
def slurm(tmp_path):
    cluster = LocalSlurm(tmp_path / "slurm-state")
    yield cluster
    cluster.stop()


def test_sbatch_trains_two_tasks_survives_preemption_and_exports(slurm, metaworld_shards, tmp_path):
    import sys

    out = tmp_path / "run"
    env = slurm.env(environment())
    env["DYNAFLIP_PYTHON"] = sys.executable
    command = [
        "sbatch", "--parsable", "--ntasks=2", "--cpus-per-task=1", f"--output={tmp_path}/slurm-%j.out",
        str(REPO / "slurm/train.sbatch"), TINY[1], *TINY[2:],  # the recipe, then key=value overrides
        f"data.shards=[{{path: {metaworld_shards}}}]", f"runtime.output_dir={out}", "model.grid_size=8",
        "data.batch_size=4", "data.workers=0", "runtime.steps=60", "runtime.checkpoint_every=1000",
    ]  # fmt: skip
    job = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=True).stdout.strip()
    job = job.split(";")[0]
    # Preempt once training is under way: USR1 to the batch script, as --signal=B:USR1 would.
    deadline = time.time() + 300
    while time.time() < deadline and not ((out / "metrics.jsonl").is_file() and max(metrics(out), default=0) >= 3):
        assert slurm.job_state(job) in ("PENDING", "RUNNING", "CONFIGURING"), (
            tmp_path / f"slurm-{job}.out"
        ).read_text()
        time.sleep(0.5)
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], env=env, check=True)
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
    final = slurm.wait(job, timeout=600)
    log = (tmp_path / f"slurm-{job}.out").read_text(errors="replace")
    assert final == "COMPLETED", log[-4000:]
    assert "requeueing job" in log
    checkpoints = sorted((out / "checkpoints").glob("step-*"))
    steps = [json.loads((c / "trainer_state.json").read_text())["step"] for c in checkpoints]
    assert steps[-1] == 60 and len(steps) == 2  # the preemption checkpoint and the final one
    assert 3 <= steps[0] < 60
    assert json.loads((checkpoints[-1] / "trainer_state.json").read_text())["world_size"] == 2
    assert sorted(metrics(out)) == list(range(1, 61))
    assert f"resumed from {checkpoints[0]}" in log
    assert (out / "export" / "model.safetensors").is_file()
