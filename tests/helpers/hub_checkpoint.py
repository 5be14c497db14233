"""A tiny training checkpoint (the layout dynaflip.hub.export reads) and its export, without the trainer."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import safetensors.torch
import torch
import yaml

from dynaflip.hub.export import export_checkpoint
from dynaflip.models import ImageEncoder
from tests.helpers.tiny import TINY_IMAGE

REPO = Path(__file__).resolve().parents[2]


def make_checkpoint(folder: Path, *, seed: int = 0) -> Path:
    """``folder`` with image_encoder.safetensors, config.yaml and trainer_state.json of a tiny ViT."""
    torch.manual_seed(seed)
    encoder = ImageEncoder(TINY_IMAGE)
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.contiguous() for name, tensor in encoder.backbone.state_dict().items()}
    safetensors.torch.save_file(state, str(folder / "image_encoder.safetensors"))
    config = {
        "recipe": "tiny-test",
        "model": {"image": dataclasses.asdict(TINY_IMAGE)},
        "objective": {"alignment": "area", "modalities": ["image", "language", "flow"]},
        "optim": {"lr": 1.0e-4, "weight_decay": 1.0e-2},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "trainer_state.json").write_text(json.dumps({"step": 3, "counters": {"samples": 12}, "data": []}))
    return folder


def make_run(run_dir: Path, *, seed: int = 0) -> Path:
    """A run folder whose latest checkpoint is ``checkpoints/step-3``."""
    make_checkpoint(run_dir / "checkpoints" / "step-3", seed=seed)
    return run_dir


def make_export(folder: Path, *, seed: int = 0) -> Path:
    return export_checkpoint(make_checkpoint(folder.parent / f"{folder.name}-checkpoint", seed=seed), folder)


def checkpoint_encoder(checkpoint: Path) -> ImageEncoder:
    """An ImageEncoder holding the checkpoint's weights (the reference the loaded encoders must match)."""
    encoder = ImageEncoder(TINY_IMAGE).eval()
    encoder.backbone.load_state_dict(safetensors.torch.load_file(str(checkpoint / "image_encoder.safetensors")))
    return encoder


def fixed_images() -> torch.Tensor:
    return torch.randn(2, 3, TINY_IMAGE.img_size, TINY_IMAGE.img_size, generator=torch.Generator().manual_seed(7))


def features(encoder: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return encoder(fixed_images())


def isolate_hub_env(monkeypatch: pytest.MonkeyPatch, cache: Path) -> Path:
    """Online (conftest turns HF_HUB_OFFLINE on), with the dynaflip cache under ``cache``."""
    for name in ("HF_HUB_OFFLINE", "DYNAFLIP_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DYNAFLIP_CACHE", str(cache))
    return cache


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "DYNAFLIP_OFFLINE")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env
