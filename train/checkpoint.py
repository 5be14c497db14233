"""Checkpoints: written under a temporary name, renamed when every rank has finished writing, the last k
kept. A checkpoint holds what accelerate saves (model, optimiser, scheduler, RNG states of every rank),
each rank's data-stream position, the trainer's counters, the config, and the image encoder's weights
alone (so an export never needs the trainer or DeepSpeed)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

# The layout (names, the folder pattern) is the library's, so the hub's export reads what is written here.
from dynaflip.checkpoint_layout import (  # noqa: F401 (latest_checkpoint: re-exported for the trainer)
    CONFIG_FILE,
    ENCODER_FILE,
    STATE_FILE,
    checkpoint_dir,
    latest_checkpoint,
    list_checkpoints,
)
from dynaflip.io import atomic_write_json


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
