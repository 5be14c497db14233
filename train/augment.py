"""Augmentation applied identically to every frame of a sample, and where the flow's query points land.

The same random resized crop and the same colour jitter for I_t, I_mid and I_t+H, so the difference
between frames is motion, never augmentation. The paper's jitter: brightness 0.1, contrast 0.1,
saturation 0.05, hue 0.02 (the crop is this project's addition; ``data.crop_scale: [1, 1]`` turns it off).

The 3D points live in the camera frame, which a crop does not change, but the query grid they were tracked
from sits at fixed places of the *stored* frame: after a crop of scale 0.8-1 the n-th point of a 20 x 20
grid is a median 0.8 and up to ~4 grid cells away from the n-th grid place of the augmented image.
So the actor is not told "the n-th grid place" but the query point's location in the augmented image
(:func:`crop_points`), and predicts the flow of the point it is shown.
Interpolating the tracks onto a new grid instead would blend foreground and background at depth edges,
which on the suite's Meta-World shards (8 x 8 grid) would have discarded most targets.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
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


def crop_points(points: np.ndarray, params: AugmentParams, *, size: int) -> np.ndarray:
    """Pixel coordinates (..., 2) of the stored frame -> those of the augmented ``size`` x ``size`` image.

    The resize's convention (pixel centres, ``align_corners=False``): x_out + 0.5 = (x + 0.5 - left) * size / w.
    Points outside the crop land outside [-0.5, size - 0.5].
    """
    points = np.asarray(points, dtype=np.float64)
    u = (points[..., 0] + 0.5 - params.left) * size / params.width - 0.5
    v = (points[..., 1] + 0.5 - params.top) * size / params.height - 0.5
    return np.stack([u, v], axis=-1).astype(np.float32)
