"""The layout of a training run's checkpoints, shared by the stage that writes them (``dynaflip.train``) and
the code that reads them (``dynaflip.hub.export``, ``dynaflip.eval``): one place for the names and the
pattern, so a reader never misses a checkpoint the writer made.

    <run>/checkpoints/step-00001000/    one complete checkpoint (step zero-padded to 8 digits, more past 10^8)
        trainer_state.json              written last: a folder without it is incomplete
        image_encoder.safetensors       the image encoder's float32 weights alone
        config.yaml                     the run's resolved config
    <run>/checkpoints/.tmp-step-.../    a save in progress (never listed)
"""

from __future__ import annotations

import re
from pathlib import Path

CHECKPOINTS_DIR = "checkpoints"
STATE_FILE = "trainer_state.json"
ENCODER_FILE = "image_encoder.safetensors"
CONFIG_FILE = "config.yaml"
# Any number of digits: steps are written with at least 8, and a run past 10^8 steps writes more.
CHECKPOINT_NAME = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / checkpoint_name(step)


def checkpoint_step(path: Path) -> int | None:
    """The step of a checkpoint folder, None if ``path`` is not named like one."""
    match = CHECKPOINT_NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of ``run_dir``, oldest first (folders of interrupted saves are ignored)."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = [path for path in folder.iterdir() if checkpoint_step(path) is not None and (path / STATE_FILE).is_file()]
    return sorted(found, key=checkpoint_step)


def latest_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None
