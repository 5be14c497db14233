"""The alignment losses: tri-modal area InfoNCE (DynaFLIP), anchor-based pairwise InfoNCE (the ablation),
and the positive-only energy (the no-negatives ablation).

Negatives of the area loss: for each positive triplet i and each anchor modality m, the B_global - 1
triplets that keep modality m of sample i and take a matched pair of the other two modalities from another
sample j. This mismatches one modality at a time, covers all three modalities symmetrically (as CLIP's two
directions do for two), and costs three B x B matrices per anchor. Fully mismatched triplets (i, j, k)
would need B^2 candidates per row for little extra signal.
"""

from __future__ import annotations

import torch

from dynaflip.distributed import gather_with_grad, rank_offset_labels

from .energy import anchored_energy_matrices, triplet_energy
from .infonce import info_nce, same_id_mask


def _gather_all(local: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: gather_with_grad(value) for name, value in local.items()}


def area_alignment_loss(
    embeddings: dict[str, torch.Tensor],
    *,
    logit_scale: torch.Tensor | float,
    alpha: float,
    eps: float,
    text_ids: torch.Tensor | None = None,
    gathered_text_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """InfoNCE over logits -E / tau for the three anchor directions, averaged.

    ``embeddings``: local unit vectors "image", "language", "flow" (B_local, d). ``logit_scale`` = 1 / tau.
    With text ids, columns whose instruction equals the row's are excluded when language is the anchor
    (such a column is the same positive triplet under another sample's name).
    """
    gathered = _gather_all(embeddings)
    energies = anchored_energy_matrices(embeddings, gathered, alpha=alpha, eps=eps)
    labels = rank_offset_labels(embeddings["image"].shape[0], device=embeddings["image"].device)
    duplicates = None
    if text_ids is not None and gathered_text_ids is not None:
        duplicates = same_id_mask(text_ids, gathered_text_ids)
    losses = {}
    for anchor, energy in energies.items():
        exclude = duplicates if anchor == "language" else None
        losses[anchor] = info_nce(-energy * logit_scale, labels, exclude=exclude)
    loss = torch.stack(list(losses.values())).mean()
    with torch.no_grad():
        metrics = {f"align_{anchor}": value.detach() for anchor, value in losses.items()}
        metrics["retrieval_top1"] = (energies["image"].argmin(dim=1) == labels).float().mean()
        metrics["positive_energy"] = energies["image"].gather(1, labels[:, None]).mean()
    return loss, metrics


def pairwise_alignment_loss(
    embeddings: dict[str, torch.Tensor],
    *,
    anchor: str,
    logit_scale: torch.Tensor | float,
    text_ids: torch.Tensor | None = None,
    gathered_text_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Symmetric CLIP InfoNCE between ``anchor`` and each other modality, averaged over the pairs.

    With two modalities the anchor is irrelevant: there is one pair.
    """
    names = list(embeddings)
    if len(names) == 2:
        pairs = [(names[0], names[1])]
    else:
        pairs = [(anchor, other) for other in names if other != anchor]
    gathered = _gather_all(embeddings)
    labels = rank_offset_labels(embeddings[names[0]].shape[0], device=embeddings[names[0]].device)
    duplicates = None
    if text_ids is not None and gathered_text_ids is not None:
        duplicates = same_id_mask(text_ids, gathered_text_ids)
    losses, metrics = [], {}
    for first, second in pairs:
        exclude = duplicates if "language" in (first, second) else None
        forward = info_nce(embeddings[first] @ gathered[second].T * logit_scale, labels, exclude=exclude)
        backward = info_nce(embeddings[second] @ gathered[first].T * logit_scale, labels, exclude=exclude)
        pair_loss = (forward + backward) / 2
        losses.append(pair_loss)
        metrics[f"align_{first}_{second}"] = pair_loss.detach()
        if first == "image" or second == "image":
            other = second if first == "image" else first
            with torch.no_grad():
                similarity = embeddings["image"] @ gathered[other].T
                metrics["retrieval_top1"] = (similarity.argmax(dim=1) == labels).float().mean()
    return torch.stack(losses).mean(), metrics


def positive_energy_loss(embeddings: dict[str, torch.Tensor], *, alpha: float, eps: float) -> torch.Tensor:
    """The no-negatives ablation: minimise the energy (or, with two modalities, 1 - cosine) of positives."""
    if len(embeddings) == 3:
        zi, zl, zf = embeddings["image"], embeddings["language"], embeddings["flow"]
        il, if_, lf = (zi * zl).sum(-1), (zi * zf).sum(-1), (zl * zf).sum(-1)
        return triplet_energy(il, if_, lf, alpha=alpha, eps=eps).mean()
    first, second = embeddings.values()
    return (1 - (first * second).sum(-1)).mean()
