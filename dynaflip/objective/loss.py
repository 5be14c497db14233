"""The full DynaFLIP objective: L = L_align + lambda_tcn L_tcn + lambda_act L_act (+ lambda_vicreg L_vicreg,
a collapse remedy that is off by default).

Everything here runs in float32 whatever the model's precision: the contrastive logits at tau = 0.07
multiply similarities by ~14, so bf16's 8-bit mantissa (steps of ~0.004 near 1) would move them by ~0.05
nats. Embeddings that arrive in a lower precision are cast and re-normalised first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from dynaflip.distributed import gather_no_grad

from .actor import actor_loss
from .alignment import NegativeMasks, area_alignment_loss, pairwise_alignment_loss, positive_energy_loss
from .config import ObjectiveConfig
from .temporal import temporal_contrastive_loss
from .vicreg import variance_covariance_terms

if TYPE_CHECKING:  # the model imports the objective's config; avoid the import cycle at run time
    from dynaflip.models.dynaflip_model import DynaFLIPOutputs


@dataclass
class LossOutput:
    total: torch.Tensor
    terms: dict[str, torch.Tensor]  # align, tcn, act (each unweighted), for logging
    metrics: dict[str, torch.Tensor]


class DynaFLIPLoss(nn.Module):
    def __init__(self, config: ObjectiveConfig) -> None:
        super().__init__()
        self.config = config

    def forward(
        self,
        outputs: DynaFLIPOutputs,
        *,
        text_ids: torch.Tensor | None = None,
        clip_ids: torch.Tensor | None = None,
    ) -> LossOutput:
        """``text_ids`` (B,) int64 identify equal instructions, ``clip_ids`` (B,) int64 the source clip."""
        config = self.config
        terms: dict[str, torch.Tensor] = {}
        metrics: dict[str, torch.Tensor] = {}
        total = outputs.logit_scale.new_zeros((), dtype=torch.promote_types(outputs.logit_scale.dtype, torch.float32))

        if config.has_alignment:
            embeddings = {name: _unit_fp32(outputs.embeddings[name]) for name in config.modalities}
            logit_scale = _at_least_fp32(outputs.logit_scale)
            masks = self.negative_masks(text_ids=text_ids, clip_ids=clip_ids)
            if not config.negatives:
                align = positive_energy_loss(
                    embeddings, alpha=config.alpha, eps=config.area_eps, cosine_pairs=config.cosine_pairs
                )
            elif config.alignment == "area" and len(embeddings) == 3:
                align, metrics = area_alignment_loss(
                    embeddings,
                    logit_scale=logit_scale,
                    alpha=config.alpha,
                    eps=config.area_eps,
                    masks=masks,
                    cosine_pairs=config.cosine_pairs,
                )
            else:
                align, metrics = pairwise_alignment_loss(
                    embeddings, anchor=config.anchor, logit_scale=logit_scale, masks=masks
                )
            terms["align"] = align
            total = total + align

        if config.lambda_tcn > 0:
            if outputs.frame_features is None or clip_ids is None:
                raise ValueError("the temporal loss needs frame features of [I_t, I_mid, I_t+H] and clip_ids")
            frames = _at_least_fp32(outputs.frame_features)
            tcn = temporal_contrastive_loss(
                frames[:, 0], frames[:, 1], frames[:, 2], clip_ids=clip_ids, temperature=config.tcn_temperature
            )
            terms["tcn"] = tcn
            total = total + config.lambda_tcn * tcn

        if config.lambda_act > 0:
            act = actor_loss(
                _at_least_fp32(outputs.actor_prediction),
                _at_least_fp32(outputs.actor_target),
                outputs.actor_mask.to(_at_least_fp32(outputs.actor_prediction).dtype),
            )
            terms["act"] = act
            total = total + config.lambda_act * act

        if config.lambda_vicreg > 0:
            if outputs.frame_features is None:
                raise ValueError("the VICReg terms need the frame embeddings (objective.lambda_vicreg > 0)")
            frames = _at_least_fp32(outputs.frame_features)
            variance, covariance = variance_covariance_terms(frames.flatten(0, 1), gamma=config.vicreg_gamma)
            vicreg = variance + config.vicreg_covariance_weight * covariance
            terms["vicreg"] = vicreg
            metrics["vicreg_variance"], metrics["vicreg_covariance"] = variance.detach(), covariance.detach()
            total = total + config.lambda_vicreg * vicreg

        metrics["logit_scale"] = outputs.logit_scale.detach()
        return LossOutput(total=total, terms=terms, metrics=metrics)

    def negative_masks(self, *, text_ids: torch.Tensor | None, clip_ids: torch.Tensor | None) -> NegativeMasks:
        """Same-clip columns (every anchor) and same-instruction columns (language), as configured."""
        config = self.config
        use_clip = config.mask_same_clip and clip_ids is not None
        use_text = config.mask_duplicate_text and config.uses_language and text_ids is not None
        return NegativeMasks.from_ids(
            clip_ids=clip_ids if use_clip else None,
            gathered_clip_ids=gather_no_grad(clip_ids) if use_clip else None,
            text_ids=text_ids if use_text else None,
            gathered_text_ids=gather_no_grad(text_ids) if use_text else None,
        )


def _at_least_fp32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def _unit_fp32(embedding: torch.Tensor) -> torch.Tensor:
    """float32 unit vectors: cast (and re-normalise, since rounding moved them off the sphere) when lower."""
    if embedding.dtype in (torch.float32, torch.float64):
        return embedding
    return F.normalize(embedding.float(), dim=-1)
