"""The triplet energy E = A - alpha <z_L, z_F> and its B x B candidate matrices.

For unit vectors the three edge terms of the triangle (z_I, z_L, z_F) follow from the three pairwise dot
products il = <z_I, z_L>, if = <z_I, z_F>, lf = <z_L, z_F>, with u = z_I - z_L and v = z_F - z_L:
<u,u> = 2 - 2 il, <v,v> = 2 - 2 lf, <u,v> = if - il - lf + 1.
"""

from __future__ import annotations

import torch

from .area import area_from_dots


def triplet_energy(il: torch.Tensor, if_: torch.Tensor, lf: torch.Tensor, *, alpha: float, eps: float) -> torch.Tensor:
    """Energy of triplets of unit vectors given their pairwise dot products (broadcasting)."""
    area = area_from_dots(2 - 2 * il, 2 - 2 * lf, if_ - il - lf + 1, eps=eps)
    return area - alpha * lf


def anchored_energy_matrices(
    local: dict[str, torch.Tensor], gathered: dict[str, torch.Tensor], *, alpha: float, eps: float
) -> dict[str, torch.Tensor]:
    """Energy of every (local row i, global column j) candidate, for each choice of anchor modality.

    With anchor m, row i keeps modality m of sample i and takes the other two modalities from sample j
    (a matched pair), so the diagonal j = i is the positive triplet and every other column a negative that
    mismatches exactly one modality. Returns {"image": E, "language": E, "flow": E}, each (B_local, B_global).
    ``local`` / ``gathered`` hold "image", "language", "flow" embeddings.
    """
    zi, zl, zf = local["image"], local["language"], local["flow"]
    gi, gl, gf = gathered["image"], gathered["language"], gathered["flow"]
    pair_il = (gi * gl).sum(-1)  # (B_global,) dot products inside each column's matched pair
    pair_if = (gi * gf).sum(-1)
    pair_lf = (gl * gf).sum(-1)
    return {
        "image": triplet_energy(zi @ gl.T, zi @ gf.T, pair_lf.unsqueeze(0), alpha=alpha, eps=eps),
        "language": triplet_energy(zl @ gi.T, pair_if.unsqueeze(0), zl @ gf.T, alpha=alpha, eps=eps),
        "flow": triplet_energy(pair_il.unsqueeze(0), zf @ gi.T, zf @ gl.T, alpha=alpha, eps=eps),
    }
