"""The alignment losses: tri-modal area InfoNCE (DynaFLIP), anchor-based pairwise InfoNCE (the ablation),
and the positive-only energy (the no-negatives ablation).

Negatives of the area loss: for each positive triplet i and each anchor modality m, the B_global - 1
triplets that keep modality m of sample i and take a matched pair of the other two modalities from another
sample j. This mismatches one modality at a time, covers all three modalities symmetrically (as CLIP's two
directions do for two), and costs three B x B matrices per anchor. Fully mismatched triplets (i, j, k)
would need B^2 candidates per row for little extra signal.

False negatives are masked out of each row's softmax (:class:`NegativeMasks`): columns of the same clip
for every anchor (another reference frame of the clip, or the very same sample drawn twice: shards are
resampled), and, for the language anchor, columns with the same instruction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dynaflip.distributed import gather_with_grad, rank_offset_labels

from .energy import CosinePairs, anchored_dots, cosine_term, triplet_area, triplet_energy
from .infonce import info_nce, same_id_mask


@dataclass
class NegativeMasks:
    """Which (local row, global column) candidates are not negatives: the same clip, the same instruction.

    Either may be None (not masked). ``exclude(anchor_or_pair)`` combines them for one softmax.
    """

    same_clip: torch.Tensor | None = None
    same_text: torch.Tensor | None = None

    @classmethod
    def from_ids(
        cls,
        *,
        clip_ids: torch.Tensor | None = None,
        gathered_clip_ids: torch.Tensor | None = None,
        text_ids: torch.Tensor | None = None,
        gathered_text_ids: torch.Tensor | None = None,
    ) -> NegativeMasks:
        same_clip = same_text = None
        if clip_ids is not None and gathered_clip_ids is not None:
            same_clip = same_id_mask(clip_ids, gathered_clip_ids)
        if text_ids is not None and gathered_text_ids is not None:
            same_text = same_id_mask(text_ids, gathered_text_ids)
        return cls(same_clip=same_clip, same_text=same_text)

    def exclude(self, *, involves_language: bool) -> torch.Tensor | None:
        masks = [self.same_clip]
        if involves_language:
            masks.append(self.same_text)
        masks = [mask for mask in masks if mask is not None]
        if not masks:
            return None
        out = masks[0]
        for mask in masks[1:]:
            out = out | mask
        return out


def _gather_all(local: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: gather_with_grad(value) for name, value in local.items()}


def _off_diagonal(exclude: torch.Tensor | None, labels: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """(B_local, B_global) True for the negatives that stay in each row's softmax."""
    keep = torch.ones(shape, dtype=torch.bool, device=labels.device)
    if exclude is not None:
        keep &= ~exclude
    keep[torch.arange(shape[0], device=labels.device), labels] = False
    return keep


def area_alignment_loss(
    embeddings: dict[str, torch.Tensor],
    *,
    logit_scale: torch.Tensor | float,
    alpha: float,
    eps: float,
    masks: NegativeMasks | None = None,
    cosine_pairs: CosinePairs = "language_flow",
    text_ids: torch.Tensor | None = None,
    gathered_text_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """InfoNCE over logits -E / tau for the three anchor directions, averaged.

    ``embeddings``: local unit vectors "image", "language", "flow" (B_local, d). ``logit_scale`` = 1 / tau.
    ``masks``: false negatives to leave out (``text_ids``/``gathered_text_ids`` alone are a shorthand for
    the same-instruction mask). Metrics: the per-anchor losses, retrieval, how many columns were masked and
    how many negatives each row kept, and the collapse monitor (mean area of positive and negative
    triplets: when the three embeddings of a sample coincide, both vanish and only the cosine term is left).
    """
    if masks is None:
        masks = NegativeMasks.from_ids(text_ids=text_ids, gathered_text_ids=gathered_text_ids)
    gathered = _gather_all(embeddings)
    dots = anchored_dots(embeddings, gathered)
    local_batch = embeddings["image"].shape[0]
    labels = rank_offset_labels(local_batch, device=embeddings["image"].device)
    losses, areas, kept = {}, {}, {}
    for anchor, (il, if_, lf) in dots.items():
        area = triplet_area(il, if_, lf, eps=eps)
        energy = area - alpha * cosine_term(il, if_, lf, pairs=cosine_pairs)
        exclude = masks.exclude(involves_language=anchor == "language")
        losses[anchor] = info_nce(-energy * logit_scale, labels, exclude=exclude)
        areas[anchor] = area.detach()
        kept[anchor] = _off_diagonal(exclude, labels, areas[anchor].shape)
    loss = torch.stack(list(losses.values())).mean()
    with torch.no_grad():
        metrics = {f"align_{anchor}": value.detach() for anchor, value in losses.items()}
        image_energy = areas["image"] - alpha * cosine_term(*(d.detach() for d in dots["image"]), pairs=cosine_pairs)
        metrics["retrieval_top1"] = (image_energy.argmin(dim=1) == labels).float().mean()
        metrics["positive_energy"] = image_energy.gather(1, labels[:, None]).mean()
        metrics["area_positive"] = areas["image"].gather(1, labels[:, None]).mean()
        negative_areas = torch.cat([areas[anchor][kept[anchor]] for anchor in areas])
        metrics["area_negative"] = negative_areas.mean()  # NaN when every candidate was masked: no negatives
        metrics.update(_mask_counts(masks, kept, labels))
    return loss, metrics


def _mask_counts(masks: NegativeMasks, kept: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per row, on average: columns masked as the same clip / the same instruction (the positive itself not
    counted) and negatives left in each anchor's softmax."""
    out = {}
    rows = torch.arange(labels.shape[0], device=labels.device)
    for name, mask in (("masked_same_clip", masks.same_clip), ("masked_same_text", masks.same_text)):
        if mask is not None:
            off = mask.clone()
            off[rows, labels] = False
            out[name] = off.sum(1).float().mean()
    for anchor, keep in kept.items():
        out[f"negatives_{anchor}"] = keep.sum(1).float().mean()
    return out


def pairwise_alignment_loss(
    embeddings: dict[str, torch.Tensor],
    *,
    anchor: str,
    logit_scale: torch.Tensor | float,
    masks: NegativeMasks | None = None,
    text_ids: torch.Tensor | None = None,
    gathered_text_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Symmetric CLIP InfoNCE between ``anchor`` and each other modality, averaged over the pairs.

    With two modalities the anchor is irrelevant: there is one pair. Same-clip columns are masked for every
    pair, same-instruction columns for pairs with language.
    """
    if masks is None:
        masks = NegativeMasks.from_ids(text_ids=text_ids, gathered_text_ids=gathered_text_ids)
    names = list(embeddings)
    if len(names) == 2:
        pairs = [(names[0], names[1])]
    else:
        pairs = [(anchor, other) for other in names if other != anchor]
    gathered = _gather_all(embeddings)
    labels = rank_offset_labels(embeddings[names[0]].shape[0], device=embeddings[names[0]].device)
    losses, metrics, kept = [], {}, {}
    for first, second in pairs:
        exclude = masks.exclude(involves_language="language" in (first, second))
        forward = info_nce(embeddings[first] @ gathered[second].T * logit_scale, labels, exclude=exclude)
        backward = info_nce(embeddings[second] @ gathered[first].T * logit_scale, labels, exclude=exclude)
        pair_loss = (forward + backward) / 2
        losses.append(pair_loss)
        metrics[f"align_{first}_{second}"] = pair_loss.detach()
        shape = torch.Size((labels.shape[0], gathered[second].shape[0]))
        kept[f"{first}_{second}"] = _off_diagonal(exclude, labels, shape)
        if first == "image" or second == "image":
            other = second if first == "image" else first
            with torch.no_grad():
                similarity = embeddings["image"] @ gathered[other].T
                metrics["retrieval_top1"] = (similarity.argmax(dim=1) == labels).float().mean()
    with torch.no_grad():
        metrics.update(_mask_counts(masks, kept, labels))
    return torch.stack(losses).mean(), metrics


def positive_energy_loss(
    embeddings: dict[str, torch.Tensor], *, alpha: float, eps: float, cosine_pairs: CosinePairs = "language_flow"
) -> torch.Tensor:
    """The no-negatives ablation: minimise the energy (or, with two modalities, 1 - cosine) of positives."""
    if len(embeddings) == 3:
        zi, zl, zf = embeddings["image"], embeddings["language"], embeddings["flow"]
        il, if_, lf = (zi * zl).sum(-1), (zi * zf).sum(-1), (zl * zf).sum(-1)
        return triplet_energy(il, if_, lf, alpha=alpha, eps=eps, cosine_pairs=cosine_pairs).mean()
    first, second = embeddings.values()
    return (1 - (first * second).sum(-1)).mean()
