"""Image preprocessing that matches an encoder: resize, centre crop, scale to [0, 1], normalise.

The input contract (:func:`to_float_batch`): an image or a batch of them as a numpy array, a torch tensor, a PIL
image, or a list of any of these; channels last (H, W, 3) or first (3, H, W); uint8 (or another integer type)
in 0-255, or floats in [0, 1]. Floats outside [0, 1] are refused with one line rather than guessed: a float
image in 0-255 (or one already normalised) would otherwise pass and give features of a white (or clipped)
picture without any error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dynaflip.errors import DynaflipError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# What Preprocess does, in timm's data-config words (ImageEncoder.data_config reports exactly this).
INTERPOLATION = "bilinear"  # antialiased
CROP_PCT = 1.0  # the short side resized to the input size, then the centre square kept: no border cropped away
CROP_MODE = "center"
FLOAT_TOLERANCE = 1e-3  # rounding above 1.0 (or below 0.0) of a float image computed in [0, 1]

ImageInput = Any  # np.ndarray | torch.Tensor | PIL.Image.Image | Sequence of them


class ImageInputError(DynaflipError, ValueError):
    """An image input Preprocess cannot take without guessing; the message says what was expected."""


@dataclass(frozen=True)
class Preprocess:
    """Callable turning images into the normalised float batch (B, 3, size, size) an encoder expects.

    Accepts what :func:`to_float_batch` accepts (numpy / torch / PIL, channels last or first, one image or a
    batch, uint8 in 0-255 or floats in [0, 1]). The short side is resized to ``size`` (bilinear,
    antialiased) and the centre ``size`` x ``size`` crop kept; then ``(x - mean) / std`` per channel.
    """

    size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __call__(self, images: ImageInput) -> torch.Tensor:
        batch = to_float_batch(images)
        batch = resize_and_crop(batch, size=self.size)
        mean = torch.tensor(self.mean, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
        return (batch - mean) / std

    def to_dict(self) -> dict:
        return {"size": self.size, "mean": list(self.mean), "std": list(self.std)}


def _is_pil(image: Any) -> bool:
    return type(image).__module__.startswith("PIL.") and hasattr(image, "convert") and hasattr(image, "size")


def _as_tensor(images: Any) -> torch.Tensor:
    """One input (not a list) as a tensor of its own dtype and layout."""
    if _is_pil(images):
        return torch.from_numpy(np.asarray(images.convert("RGB")).copy())
    if isinstance(images, np.ndarray):
        if images.dtype == np.bool_ or images.dtype.kind not in "uif":
            raise ImageInputError(f"images: expected uint8 or float pixels, got a {images.dtype} array")
        return torch.from_numpy(np.ascontiguousarray(images))
    if isinstance(images, torch.Tensor):
        return images.detach()
    raise ImageInputError(
        f"images: expected a numpy array, a torch tensor, a PIL image or a list of them, got {type(images).__name__}"
    )


def _channels_first(batch: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) or (B, 3, H, W) -> (B, 3, H, W); channels last wins when both sides are 3."""
    if batch.shape[-1] == 3:
        return batch.permute(0, 3, 1, 2)
    if batch.shape[1] == 3:
        return batch
    raise ImageInputError(
        f"images: expected 3 colour channels, first or last, e.g. (H, W, 3), (3, H, W), (B, H, W, 3) or "
        f"(B, 3, H, W), got shape {tuple(batch.shape)} (convert grey or RGBA images to RGB first)"
    )


def to_float_batch(images: ImageInput) -> torch.Tensor:
    """Any supported image input as a float32 (B, 3, H, W) tensor in [0, 1] (see the module docstring)."""
    if isinstance(images, list | tuple):
        if not images:
            raise ImageInputError("images: expected at least one image, got an empty sequence")
        parts = [to_float_batch(image) for image in images]
        shapes = {tuple(part.shape[1:]) for part in parts}
        if len(shapes) > 1:
            raise ImageInputError(f"images: a list of images must share one size, got {sorted(shapes)}")
        return torch.cat(parts)
    batch = _as_tensor(images)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4:
        raise ImageInputError(
            f"images: expected an image (H, W, 3) / (3, H, W) or a batch (B, H, W, 3) / (B, 3, H, W), got shape "
            f"{tuple(batch.shape)}"
        )
    batch = _channels_first(batch)
    if batch.dtype == torch.bool:
        raise ImageInputError("images: expected uint8 or float pixels, got bool")
    if not batch.is_floating_point():
        if batch.numel() and (int(batch.min()) < 0 or int(batch.max()) > 255):
            raise ImageInputError(
                f"images: integer pixels must lie in 0-255, got {int(batch.min())} to {int(batch.max())}"
            )
        return batch.float() / 255.0
    batch = batch.float()
    if batch.numel():
        low, high = float(batch.min()), float(batch.max())
        if high > 1.0 + FLOAT_TOLERANCE or low < -FLOAT_TOLERANCE:
            raise ImageInputError(
                f"images: float pixels must lie in [0, 1], got {low:.4g} to {high:.4g} (a 0-255 image: pass it "
                "as uint8, or divide by 255; an already normalised one: pass the raw image, Preprocess normalises)"
            )
        batch = batch.clamp(0.0, 1.0)
    return batch


def resize_and_crop(batch: torch.Tensor, *, size: int) -> torch.Tensor:
    """Resize the short side to ``size`` (bilinear, antialiased) and keep the centre square."""
    height, width = batch.shape[-2:]
    if (height, width) != (size, size):
        scale = size / min(height, width)
        new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
        batch = F.interpolate(batch, size=(new_h, new_w), mode=INTERPOLATION, antialias=True, align_corners=False)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        batch = batch[..., top : top + size, left : left + size]
    return batch


def describe() -> dict[str, Any]:
    """Preprocess's resize and crop in timm's data-config keys."""
    return {"interpolation": INTERPOLATION, "crop_pct": CROP_PCT, "crop_mode": CROP_MODE}


__all__ = ["ImageInputError", "Preprocess", "describe", "resize_and_crop", "to_float_batch"]
