"""Export a training checkpoint (or a run folder's latest one) as a standalone encoder folder.

Reads the checkpoint layout the training stage writes (``image_encoder.safetensors``, ``config.yaml``,
``trainer_state.json``), so exporting needs neither the trainer nor DeepSpeed; writes the format of
:mod:`dynaflip.hub.format` plus a model card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dynaflip.checkpoint_layout import CHECKPOINTS_DIR, CONFIG_FILE, ENCODER_FILE, STATE_FILE, latest_checkpoint
from dynaflip.config import from_dict
from dynaflip.io import atomic_write_text
from dynaflip.models.image_encoder import ImageEncoder, ImageEncoderConfig

from .card import model_card
from .format import save_encoder


def find_checkpoint(path: str | Path) -> Path:
    """``path`` itself if it is a checkpoint, else the latest complete checkpoint of the run folder ``path``."""
    path = Path(path)
    if (path / STATE_FILE).is_file():
        return path
    latest = latest_checkpoint(path)
    if latest is None:
        raise FileNotFoundError(
            f"{path}: neither a checkpoint ({STATE_FILE}) nor a run folder with {CHECKPOINTS_DIR}/step-*"
        )
    return latest


def export_checkpoint(source: str | Path, out_dir: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors``, ``config.json`` and ``README.md`` for the image encoder of ``source``."""
    import safetensors.torch

    checkpoint = find_checkpoint(source)
    weights = checkpoint / ENCODER_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: missing (the checkpoint has no standalone image encoder weights)")
    train_config = yaml.safe_load((checkpoint / CONFIG_FILE).read_text())
    state = json.loads((checkpoint / STATE_FILE).read_text())
    image_config = from_dict(ImageEncoderConfig, {**train_config["model"]["image"], "pretrained": False})
    encoder = ImageEncoder(image_config)
    encoder.backbone.load_state_dict(safetensors.torch.load_file(str(weights)))
    training = {
        "recipe": train_config.get("recipe", "custom"),
        "steps": state.get("step"),
        "samples_seen": state.get("counters", {}).get("samples"),
        "data": state.get("data", []),
        "objective": train_config.get("objective"),
        "optim": train_config.get("optim"),
        "checkpoint": str(checkpoint),
    }
    metadata = {"training": training, **(extra or {})}
    out_dir = save_encoder(encoder, out_dir, metadata=metadata)
    atomic_write_text(out_dir / "README.md", model_card(json.loads((out_dir / "config.json").read_text())))
    return out_dir
