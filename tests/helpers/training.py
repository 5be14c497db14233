"""Run dynaflip-train in subprocesses (one process, or several through torchrun) on small shards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.distributed import free_port

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "--config",
    str(REPO / "configs/train/tiny-cpu.yaml"),
    "model.image.img_size=32",
    "data.image_size=32",
    "model.image.model_kwargs={patch_size: 8, depth: 2, embed_dim: 48, num_heads: 3}",
    "model.flow={cnn_channels: 8, cnn_layers: 3, width: 32, depth: 1, heads: 2}",
    "model.embed_dim=32",
    "model.head_hidden_dim=64",
    "runtime.log_every=1",
    "runtime.tensorboard=false",
]


def environment() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def train_command(args: list[str], *, processes: int = 1) -> list[str]:
    if processes == 1:
        return [sys.executable, "-m", "dynaflip.train.cli", *TINY, *args]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={processes}",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "dynaflip.train.cli",
        *TINY,
        *args,
    ]


def run_training(args: list[str], *, processes: int = 1, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        train_command(args, processes=processes),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(),
        cwd=REPO,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"dynaflip-train failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return result


def metrics(run_dir: Path) -> dict[int, dict]:
    """The last logged metrics of every step (a resumed run logs some steps again)."""
    rows = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        rows[row["step"]] = row
    return rows
