"""The optimiser's parameter groups: no weight decay on biases, norms and embeddings; the image backbone in
groups of its own when it gets another rate or decay (``optim.backbone_lr_scale`` / ``backbone_weight_decay``).

Each group carries ``lr_scale``: :func:`~.schedule.set_learning_rate` sets its rate to the scheduled rate
times that scale, so warmup and cosine apply to the backbone too.
"""

from __future__ import annotations

from typing import Any

import torch

from .config import OptimConfig

NO_DECAY = ("pos_embed", "cls_token", "reg_token", "step_embedding", "log_logit_scale")
BACKBONE = "image_encoder.backbone."


def parameter_groups(model: torch.nn.Module, optim: OptimConfig) -> list[dict[str, Any]]:
    """Groups of the trainable parameters (empty groups left out)."""
    if not optim.backbone_lr_scale > 0:
        raise ValueError(f"optim.backbone_lr_scale: expected a positive factor, got {optim.backbone_lr_scale}")
    if optim.backbone_weight_decay is not None and optim.backbone_weight_decay < 0:
        raise ValueError(f"optim.backbone_weight_decay: expected >= 0 or null, got {optim.backbone_weight_decay}")
    backbone_decay = optim.weight_decay if optim.backbone_weight_decay is None else optim.backbone_weight_decay
    split = optim.backbone_lr_scale != 1.0 or backbone_decay != optim.weight_decay
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        decays = not (parameter.ndim <= 1 or any(tag in name for tag in NO_DECAY))
        groups.setdefault((split and name.startswith(BACKBONE), decays), []).append(parameter)
    out = []
    for (backbone, decays), parameters in sorted(groups.items(), key=lambda item: (item[0][0], not item[0][1])):
        decay = (backbone_decay if backbone else optim.weight_decay) if decays else 0.0
        scale = optim.backbone_lr_scale if backbone else 1.0
        out.append({"params": parameters, "weight_decay": decay, "lr_scale": scale})
    return out
