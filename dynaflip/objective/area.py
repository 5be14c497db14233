"""Triangle (2-simplex) area from pairwise dot products, with a square root that stays differentiable.

A(a, b, c) = 1/2 sqrt(<u,u><v,v> - <u,v>^2), u = a - c, v = b - c: the Gram-determinant area. It needs only
dot products, so B x B candidate triplets cost a few B x B similarity matrices and never a B x B x d tensor.
"""

from __future__ import annotations

import math

import torch

DEFAULT_EPS = 1e-8


def safe_sqrt(x: torch.Tensor, *, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """sqrt(x) above ``eps``, continued linearly to 0 below it, so the gradient is finite everywhere.

    sqrt has an infinite slope at 0: a degenerate triangle (coincident or collinear corners) would give
    an infinite or NaN gradient. Below eps the value is x / sqrt(eps) (equal to sqrt at eps, 0 at 0) with
    slope 1/sqrt(eps); negative x (round-off) maps to 0 with zero slope.
    """
    safe = x.clamp_min(eps)
    return torch.where(x > eps, safe.sqrt(), x.clamp_min(0.0) / math.sqrt(eps))


def area_from_dots(uu: torch.Tensor, vv: torch.Tensor, uv: torch.Tensor, *, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Area of the triangle spanned by edge vectors u, v given <u,u>, <v,v>, <u,v> (broadcasting)."""
    return 0.5 * safe_sqrt(uu * vv - uv * uv, eps=eps)


def triangle_area(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, *, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Area of the triangle with corners ``a``, ``b``, ``c`` (last dim = coordinates), broadcasting over
    the leading dims, with a finite gradient at degenerate triangles."""
    u = a - c
    v = b - c
    return area_from_dots((u * u).sum(-1), (v * v).sum(-1), (u * v).sum(-1), eps=eps)
