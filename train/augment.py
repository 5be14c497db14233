"""Augmentation applied identically to every frame of a sample.

The same random resized crop and the same colour jitter for I_t, I_mid and I_t+H, so the difference
between frames is motion, never augmentation. The 3D flow needs no change: it lives in the camera frame,
and a crop only changes which part of the image the encoder sees. The paper's jitter: brightness 0.1,
contrast 0.1, saturation 0.05, hue 0.02.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from .config import ColorJitter


@dataclass(frozen=True)
class AugmentParams:
    top: int
    left: int
    height: int
    width: int
    brightness: float
    contrast: float
    saturation: float
    hue: float


def sample_params(
    height: int, width: int, *, rng: random.Random, crop_scale: tuple[float, float], jitter: ColorJitter
) -> AugmentParams:
    """Random resized crop (area fraction in ``crop_scale``, aspect ratio in [3/4, 4/3]) and jitter factors."""
    area = height * width
    crop_h, crop_w = height, width
    for _ in range(10):
        target = area * rng.uniform(*crop_scale)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w = round(math.sqrt(target * ratio))
        h = round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            crop_h, crop_w = h, w
            break
    top = rng.randint(0, height - crop_h)
    left = rng.randint(0, width - crop_w)
    return AugmentParams(
        top=top,
        left=left,
        height=crop_h,
        width=crop_w,
        brightness=rng.uniform(1 - jitter.brightness, 1 + jitter.brightness),
        contrast=rng.uniform(1 - jitter.contrast, 1 + jitter.contrast),
        saturation=rng.uniform(1 - jitter.saturation, 1 + jitter.saturation),
        hue=rng.uniform(-jitter.hue, jitter.hue),
    )


def augment_frames(frames: torch.Tensor, params: AugmentParams, *, size: int) -> torch.Tensor:
    """``frames`` (F, 3, H, W) uint8 -> (F, 3, size, size) uint8, crop and jitter shared by all frames."""
    crop = frames[:, :, params.top : params.top + params.height, params.left : params.left + params.width]
    resized = F.interpolate(
        crop.float() / 255.0, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    out = resized.clamp(0, 1)
    out = TF.adjust_brightness(out, params.brightness)
    out = TF.adjust_contrast(out, params.contrast)
    out = TF.adjust_saturation(out, params.saturation)
    out = TF.adjust_hue(out, params.hue)
    return (out * 255.0).round().clamp(0, 255).to(torch.uint8)
