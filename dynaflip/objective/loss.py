"""The full DynaFLIP objective: L = L_align + lambda_tcn L_tcn + lambda_act L_act."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from dynaflip.distributed import gather_no_grad

from .actor import actor_loss
from .alignment import area_alignment_loss, pairwise_alignment_loss, positive_energy_loss
from .config import ObjectiveConfig
from .temporal import temporal_contrastive_loss

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
        total = outputs.logit_scale.new_zeros(())

        if config.has_alignment:
            embeddings = {name: outputs.embeddings[name] for name in config.modalities}
            gathered_text_ids = None
            if config.mask_duplicate_text and text_ids is not None and config.uses_language:
                gathered_text_ids = gather_no_grad(text_ids)
            else:
                text_ids = None
            if not config.negatives:
                align = positive_energy_loss(embeddings, alpha=config.alpha, eps=config.area_eps)
            elif config.alignment == "area" and len(embeddings) == 3:
                align, metrics = area_alignment_loss(
                    embeddings,
                    logit_scale=outputs.logit_scale,
                    alpha=config.alpha,
                    eps=config.area_eps,
                    text_ids=text_ids,
                    gathered_text_ids=gathered_text_ids,
                )
            else:
                align, metrics = pairwise_alignment_loss(
                    embeddings,
                    anchor=config.anchor,
                    logit_scale=outputs.logit_scale,
                    text_ids=text_ids,
                    gathered_text_ids=gathered_text_ids,
                )
            terms["align"] = align
            total = total + align

        if config.lambda_tcn > 0:
            if outputs.frame_features is None or clip_ids is None:
                raise ValueError("the temporal loss needs frame features of [I_t, I_mid, I_t+H] and clip_ids")
            frames = outputs.frame_features
            tcn = temporal_contrastive_loss(
                frames[:, 0], frames[:, 1], frames[:, 2], clip_ids=clip_ids, temperature=config.tcn_temperature
            )
            terms["tcn"] = tcn
            total = total + config.lambda_tcn * tcn

        if config.lambda_act > 0:
            act = actor_loss(outputs.actor_prediction, outputs.actor_target, outputs.actor_mask)
            terms["act"] = act
            total = total + config.lambda_act * act

        metrics["logit_scale"] = outputs.logit_scale.detach()
        return LossOutput(total=total, terms=terms, metrics=metrics)
