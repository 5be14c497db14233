"""The triplet energy E = A - alpha * C and its B x B candidate matrices.

For unit vectors the three edge terms of the triangle (z_I, z_L, z_F) follow from the three pairwise dot
products il = <z_I, z_L>, if = <z_I, z_F>, lf = <z_L, z_F>, with u = z_I - z_L and v = z_F - z_L:
<u,u> = 2 - 2 il, <v,v> = 2 - 2 lf, <u,v> = if - il - lf + 1.

C is the cosine regulariser: the paper's <z_L, z_F> (``language_flow``), or, as an ablation, the mean of
all three pairwise cosines (``all_pairs``), which also pulls the image corner towards the other two. A
collapsed triplet (three coincident corners) has zero area whatever its partners, so only C then tells
a positive from a negative; ``all_pairs`` lets a user test whether that matters.
"""

from __future__ import annotations

from typing import Literal

import torch

from .area import area_from_dots

CosinePairs = Literal["language_flow", "all_pairs"]
Dots = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # il, if, lf (broadcastable)


def triplet_area(il: torch.Tensor, if_: torch.Tensor, lf: torch.Tensor, *, eps: float) -> torch.Tensor:
    """Area of triangles of unit vectors given their pairwise dot products (broadcasting)."""
    return area_from_dots(2 - 2 * il, 2 - 2 * lf, if_ - il - lf + 1, eps=eps)


def cosine_term(
    il: torch.Tensor, if_: torch.Tensor, lf: torch.Tensor, *, pairs: CosinePairs = "language_flow"
) -> torch.Tensor:
    """The regulariser's cosine: <z_L, z_F>, or the mean of the three pairwise cosines."""
    if pairs == "language_flow":
        return lf
    if pairs == "all_pairs":
        return (il + if_ + lf) / 3
    raise ValueError(f"objective.cosine_pairs: expected 'language_flow' or 'all_pairs', got {pairs!r}")


def triplet_energy(
    il: torch.Tensor,
    if_: torch.Tensor,
    lf: torch.Tensor,
    *,
    alpha: float,
    eps: float,
    cosine_pairs: CosinePairs = "language_flow",
) -> torch.Tensor:
    """Energy of triplets of unit vectors given their pairwise dot products (broadcasting)."""
    return triplet_area(il, if_, lf, eps=eps) - alpha * cosine_term(il, if_, lf, pairs=cosine_pairs)


def anchored_dots(local: dict[str, torch.Tensor], gathered: dict[str, torch.Tensor]) -> dict[str, Dots]:
    """The (il, if, lf) dot products of every (local row i, global column j) candidate, per anchor.

    With anchor m, row i keeps modality m of sample i and takes the other two modalities from sample j
    (a matched pair), so the diagonal j = i is the positive triplet and every other column a negative that
    mismatches exactly one modality. Each entry broadcasts to (B_local, B_global).
    """
    zi, zl, zf = local["image"], local["language"], local["flow"]
    gi, gl, gf = gathered["image"], gathered["language"], gathered["flow"]
    pair_il = (gi * gl).sum(-1).unsqueeze(0)  # (1, B_global) dot products inside each column's matched pair
    pair_if = (gi * gf).sum(-1).unsqueeze(0)
    pair_lf = (gl * gf).sum(-1).unsqueeze(0)
    return {
        "image": (zi @ gl.T, zi @ gf.T, pair_lf),
        "language": (zl @ gi.T, pair_if, zl @ gf.T),
        "flow": (pair_il, zf @ gi.T, zf @ gl.T),
    }


def anchored_energy_matrices(
    local: dict[str, torch.Tensor],
    gathered: dict[str, torch.Tensor],
    *,
    alpha: float,
    eps: float,
    cosine_pairs: CosinePairs = "language_flow",
) -> dict[str, torch.Tensor]:
    """Energy of every (local row i, global column j) candidate for each anchor modality (see
    :func:`anchored_dots`). Returns {"image": E, "language": E, "flow": E}, each (B_local, B_global)."""
    return {
        anchor: triplet_energy(*dots, alpha=alpha, eps=eps, cosine_pairs=cosine_pairs)
        for anchor, dots in anchored_dots(local, gathered).items()
    }
