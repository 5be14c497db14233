"""Synthetic videos with known point motion: a smooth random texture under known affine warps."""

from __future__ import annotations

import cv2
import numpy as np


def texture(*, size: int, seed: int = 0, blur_sigma: float = 2.0) -> np.ndarray:
    """(size, size, 3) uint8 RGB smooth random texture (Gaussian-blurred noise, contrast stretched)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((size, size, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur_sigma)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).round().astype(np.uint8)


def affine(*, shift: tuple[float, float], degrees: float, scale: float, centre: tuple[float, float]) -> np.ndarray:
    """2x3 matrix: rotate by ``degrees`` and scale about ``centre``, then translate by ``shift`` (pixels)."""
    matrix = cv2.getRotationMatrix2D(centre, degrees, scale)
    matrix[:, 2] += shift
    return matrix


def render(source: np.ndarray, matrices: list[np.ndarray], *, width: int, height: int) -> np.ndarray:
    """(T, H, W, 3) frames: frame t shows ``source`` mapped by ``matrices[t]`` (source pixel -> frame pixel)."""
    options = {"flags": cv2.INTER_CUBIC, "borderMode": cv2.BORDER_REFLECT_101}
    return np.stack([cv2.warpAffine(source, m, (width, height), **options) for m in matrices])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(matrix)


def ground_truth(matrices: list[np.ndarray], queries: np.ndarray) -> np.ndarray:
    """(T, N, 2) true positions of ``queries`` given on frame 0."""
    source_points = apply(invert(matrices[0]), queries.astype(np.float64))
    return np.stack([apply(m, source_points) for m in matrices])
