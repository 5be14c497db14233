"""Monocular depth from a Depth Anything model (V1 or V2) in a local transformers folder.

The folder is what ``save_pretrained`` writes (``config.json``, ``preprocessor_config.json`` and the weights),
e.g. a local copy of ``depth-anything/Depth-Anything-V2-Small-hf``; nothing is fetched from a hub. Relative
models predict an affine-invariant disparity, turned into depth of unknown scale by
:func:`~.relative.disparity_to_depth` and labelled kind "relative" (the pipeline then aligns each window's
frames to its reference frame on the static background, :func:`~.relative.align_to_reference`, so one scale
holds across the window); metric models (V2 Metric) predict metres and are labelled "metric".
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..clips import ClipSpec
from .base import DepthResult
from .relative import disparity_to_depth

# output option -> (the config's depth_estimation_type it needs, the kind reported)
OUTPUTS = {"relative-disparity": ("relative", "relative"), "metric": ("metric", "metric")}
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


class DepthAnythingDepth:
    """Depth Anything on ``device``, ``batch_size`` frames per forward pass; predictions are resized bilinearly
    back to the frames' resolution (the prediction is smooth, unlike recorded depth, so this blends nothing new).

    The folder is checked when the backend is built; the weights are loaded on first use, so building it (e.g.
    to validate a configuration before starting workers) stays cheap.
    """

    name = "depth-anything"

    def __init__(
        self,
        *,
        model_path: str,
        output: str = "relative-disparity",
        device: str = "cpu",
        batch_size: int = 8,
        min_relative_disparity: float = 0.02,
    ) -> None:
        if output not in OUTPUTS:
            raise ValueError(f"depth-anything: output: expected one of {sorted(OUTPUTS)}, got {output!r}")
        if batch_size < 1:
            raise ValueError(f"depth-anything: batch_size: expected >= 1, got {batch_size}")
        folder = Path(model_path).expanduser()
        config = read_model_config(folder)
        estimation = config.get("depth_estimation_type", "relative")
        needed, self.kind = OUTPUTS[output]
        if estimation != needed:
            matching = [key for key, value in OUTPUTS.items() if value[0] == estimation]
            advice = f"use output {matching[0]!r} or another model" if matching else "use another model"
            raise ValueError(
                f"depth-anything: {folder / 'config.json'}: depth_estimation_type is {estimation!r} but output "
                f"{output!r} needs a {needed!r} model; {advice}"
            )
        self.folder = folder
        self.output = output
        self.device = device
        self.batch_size = int(batch_size)
        self.min_relative_disparity = float(min_relative_disparity)
        digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]
        self.version = (
            f"{folder.name};{estimation};config={digest};transformers={importlib.metadata.version('transformers')}"
            + (f";min_relative_disparity={self.min_relative_disparity:g}" if self.kind == "relative" else "")
        )
        self._model: Any = None
        self._processor: Any = None

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation

            self._processor = AutoImageProcessor.from_pretrained(self.folder, local_files_only=True)
            model = DepthAnythingForDepthEstimation.from_pretrained(self.folder, local_files_only=True)
            self._model = model.to(self.device).eval()
        return self._model, self._processor

    def depth(self, clip: ClipSpec, frames: np.ndarray, frame_indices: np.ndarray) -> DepthResult:
        """Depth (T, H, W) float32 for ``frames`` (T, H, W, 3) uint8 RGB; 0 where unknown."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames: expected (T, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
        model, processor = self._load()
        height, width = frames.shape[1:3]
        predictions = []
        for start in range(0, len(frames), self.batch_size):
            batch = list(frames[start : start + self.batch_size])
            pixel_values = processor(images=batch, return_tensors="pt")["pixel_values"].to(self.device)
            with torch.inference_mode():
                predicted = model(pixel_values=pixel_values).predicted_depth  # (B, h, w) at the model's resolution
                resized = F.interpolate(
                    predicted[:, None].float(), size=(height, width), mode="bilinear", align_corners=False
                )
            predictions.append(resized[:, 0].cpu().numpy())
        raw = np.concatenate(predictions) if predictions else np.zeros((0, height, width), dtype=np.float32)
        if self.kind == "relative":
            depth = disparity_to_depth(raw, min_relative_disparity=self.min_relative_disparity)
        else:
            depth = np.where(np.isfinite(raw) & (raw > 0), raw, 0.0).astype(np.float32)
        return DepthResult(depth=depth, kind=self.kind)


def read_model_config(folder: Path) -> dict[str, Any]:
    """The folder's ``config.json`` after checking it is a complete Depth Anything folder (clear errors if not)."""
    hint = (
        "expected a local folder written by save_pretrained (config.json, preprocessor_config.json, weights), "
        "e.g. a copy of depth-anything/Depth-Anything-V2-Small-hf; this machine has no hub access"
    )
    if not folder.is_dir():
        raise FileNotFoundError(f"depth-anything: model_path '{folder}' does not exist or is not a folder ({hint})")
    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except FileNotFoundError:
        raise ValueError(f"depth-anything: '{folder}' is not a model folder: config.json missing ({hint})") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"depth-anything: {config_file}: unreadable ({error})") from None
    if not isinstance(config, dict) or config.get("model_type") != "depth_anything":
        found = config.get("model_type") if isinstance(config, dict) else None
        raise ValueError(f"depth-anything: {config_file}: model_type: expected 'depth_anything', got {found!r}")
    if not (folder / "preprocessor_config.json").is_file():
        raise ValueError(f"depth-anything: '{folder}' is not a model folder: preprocessor_config.json missing ({hint})")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise ValueError(f"depth-anything: '{folder}' has no weights (expected one of {', '.join(WEIGHT_FILES)})")
    return config
