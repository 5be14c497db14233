"""The exported-encoder format that ``dynaflip.load`` reads: a folder with

- ``model.safetensors``: the image encoder's weights (the timm backbone's state dict, nothing else);
- ``config.json``: architecture (:class:`~dynaflip.models.ImageEncoderConfig`), preprocessing (input size,
  mean, std), the feature definition, the sha256 of ``model.safetensors`` (so a download can be verified
  against the config it came with), and provenance (recipe, data manifest hash, training steps);
- ``README.md``: the model card (written by the exporter).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from dynaflip import __version__
from dynaflip.config import from_dict
from dynaflip.errors import DynaflipError
from dynaflip.io import atomic_path, atomic_write_json
from dynaflip.models.image_encoder import ImageEncoder, ImageEncoderConfig
from dynaflip.models.preprocess import Preprocess

from .checksum import file_sha256

FORMAT_NAME = "dynaflip-image-encoder"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FEATURE_DOC = "[CLS ; mean of patch tokens] of the final normalised tokens, 2 x embed_dim"


class ExportFormatError(DynaflipError, ValueError):
    """An export folder or file does not follow the format; the message names the file and field."""


def preprocess_for(encoder: ImageEncoder) -> Preprocess:
    data = encoder.data_config
    return Preprocess(size=encoder.config.img_size, mean=tuple(data["mean"]), std=tuple(data["std"]))


def save_encoder(
    encoder: ImageEncoder,
    out_dir: str | Path,
    *,
    preprocess: Preprocess | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (both atomically) into ``out_dir``."""
    import safetensors.torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    preprocess = preprocess or preprocess_for(encoder)
    image_config = dataclasses.asdict(encoder.config)
    image_config["pretrained"] = False  # the weights are in this folder
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in encoder.backbone.state_dict().items()}
    with atomic_path(out_dir / WEIGHTS_FILE) as temp:
        safetensors.torch.save_file(state, str(temp), metadata={"format": "pt"})
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "dynaflip_version": __version__,
        "image_encoder": image_config,
        "preprocess": preprocess.to_dict(),
        "feature": FEATURE_DOC,
        "output_dim": encoder.output_dim,
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": file_sha256(out_dir / WEIGHTS_FILE),
        **(metadata or {}),
    }
    atomic_write_json(out_dir / CONFIG_FILE, config)
    return out_dir


def read_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise ExportFormatError(f"{path}: missing (expected an export folder with {CONFIG_FILE} and {WEIGHTS_FILE})")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ExportFormatError(f"{path}: not valid JSON ({error})") from None
    if config.get("format") != FORMAT_NAME:
        raise ExportFormatError(f"{path}: field 'format': expected '{FORMAT_NAME}', got {config.get('format')!r}")
    if config.get("format_version") != FORMAT_VERSION:
        raise ExportFormatError(
            f"{path}: field 'format_version': this dynaflip ({__version__}) reads export format_version "
            f"{FORMAT_VERSION}, the file has {config.get('format_version')!r} (written by a newer dynaflip? "
            "upgrade it: pip install -U dynaflip)"
        )
    for field in ("image_encoder", "preprocess"):
        if not isinstance(config.get(field), dict):
            raise ExportFormatError(f"{path}: field '{field}': expected an object, got {config.get(field)!r}")
    return config


def load_encoder(
    folder: str | Path, *, device: str | torch.device | None = None
) -> tuple[ImageEncoder, Preprocess, dict]:
    """(encoder in eval mode, preprocess, config) from an export folder."""
    folder = Path(folder)
    config = read_config(folder)
    encoder = encoder_from_files(config, folder / WEIGHTS_FILE, device=device)
    return encoder, preprocess_from_config(config), config


def encoder_from_files(
    config: dict[str, Any], weights: str | Path, *, device: str | torch.device | None = None
) -> ImageEncoder:
    """The encoder (eval mode) described by a parsed ``config.json`` with the weights file ``weights``.

    The two files need not share a folder (downloads cache each file under its own URL).
    """
    import safetensors.torch

    weights = Path(weights)
    if not weights.is_file():
        raise ExportFormatError(f"{weights}: missing")
    # The weights come from ``weights``; a hand-edited config must never trigger timm's own download.
    image_config = from_dict(ImageEncoderConfig, {**config["image_encoder"], "pretrained": False})
    encoder = ImageEncoder(image_config)
    state = safetensors.torch.load_file(str(weights), device="cpu")
    missing, unexpected = encoder.backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ExportFormatError(
            f"{weights}: weights do not match the architecture in {CONFIG_FILE} "
            f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})"
        )
    encoder.eval()
    if device is not None:
        encoder.to(device)
    return encoder


def preprocess_from_config(config: dict[str, Any]) -> Preprocess:
    data = config["preprocess"]
    return Preprocess(size=int(data["size"]), mean=tuple(data["mean"]), std=tuple(data["std"]))
