"""Checkpoints: written under a temporary name, renamed when every rank has finished writing, the last k
kept. A checkpoint holds what accelerate saves (model, optimiser, scheduler, RNG states of every rank),
each rank's data-stream position, the trainer's counters, the config, and the image encoder's weights
alone (so an export never needs the trainer or DeepSpeed)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from dynaflip.io import atomic_write_json

CHECKPOINTS_DIR = "checkpoints"
STATE_FILE = "trainer_state.json"
ENCODER_FILE = "image_encoder.safetensors"
CONFIG_FILE = "config.yaml"
_NAME = re.compile(r"^step-(\d{8})$")


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / CHECKPOINTS_DIR / f"step-{step:08d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary folders of interrupted saves are ignored)."""
    folder = run_dir / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = [path for path in folder.iterdir() if _NAME.match(path.name) and (path / STATE_FILE).is_file()]
    return sorted(found, key=lambda path: int(_NAME.match(path.name).group(1)))


def latest_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def save_checkpoint(
    accelerator,
    run_dir: Path,
    *,
    step: int,
    state: dict[str, Any],
    rank_state: dict[str, Any],
    encoder_state: dict | None,
    config_yaml: str,
    keep: int,
) -> Path:
    """Collective: every rank calls it. Returns the final checkpoint folder."""
    import safetensors.torch

    final = checkpoint_dir(run_dir, step)
    temp = final.parent / f".tmp-{final.name}"
    if accelerator.is_main_process:
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temp))
    atomic_write_json(temp / f"data_state_rank{accelerator.process_index}.json", rank_state)
    if accelerator.is_main_process:
        if encoder_state is not None:
            tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in encoder_state.items()}
            safetensors.torch.save_file(tensors, str(temp / ENCODER_FILE))
        (temp / CONFIG_FILE).write_text(config_yaml)
        atomic_write_json(temp / STATE_FILE, {**state, "step": step, "world_size": accelerator.num_processes})
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(temp, final)
        for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def read_state(checkpoint: Path) -> dict[str, Any]:
    path = checkpoint / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{checkpoint}: not a complete checkpoint ({STATE_FILE} missing)")
    return json.loads(path.read_text())


def read_rank_state(checkpoint: Path, rank: int) -> dict[str, Any] | None:
    path = checkpoint / f"data_state_rank{rank}.json"
    return json.loads(path.read_text()) if path.is_file() else None
