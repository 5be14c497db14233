"""The model-to-loss call, written once: the trainer's step (``train/step.py``), the benches and the tests all
run these functions, so what is measured and checked is what trains.

Precision rules: the model runs inside the caller's autocast context (bf16 where asked; a DeepSpeed engine
passes none and gets inputs in its own dtype, see :meth:`dynaflip.batch.Batch.to`); the loss always runs
outside autocast and in float32 or wider (see ``dynaflip.objective.loss``).
"""

from __future__ import annotations

import contextlib

import torch

from dynaflip.batch import Batch
from dynaflip.models.dynaflip_model import DynaFLIPOutputs
from dynaflip.objective import DynaFLIPLoss, LossOutput


def forward(model: torch.nn.Module, batch: Batch) -> DynaFLIPOutputs:
    """The model's outputs for ``batch`` (a prepared batch: normalised frames in the model's input dtype)."""
    return model(
        batch.frames,
        points3d=batch.points3d,
        points3d_valid=batch.points3d_valid,
        text_embedding=batch.text_embedding,
        queries2d=batch.queries2d,
    )


def compute_loss(
    loss_fn: DynaFLIPLoss, outputs: DynaFLIPOutputs, *, text_ids: torch.Tensor, clip_ids: torch.Tensor
) -> LossOutput:
    """The objective on ``outputs``, with autocast off whatever context the caller is in."""
    with torch.autocast(outputs.logit_scale.device.type, enabled=False):
        return loss_fn(outputs, text_ids=text_ids, clip_ids=clip_ids)


def forward_and_loss(
    model: torch.nn.Module,
    loss_fn: DynaFLIPLoss,
    batch: Batch,
    *,
    autocast: contextlib.AbstractContextManager | None = None,
) -> LossOutput:
    """Forward ``batch`` inside ``autocast`` (e.g. ``torch.autocast("cuda", dtype=torch.bfloat16)``; none: the
    model's own precision), then the loss outside it. The caller runs the backward."""
    with autocast if autocast is not None else contextlib.nullcontext():
        outputs = forward(model, batch)
    return compute_loss(loss_fn, outputs, text_ids=batch.text_ids, clip_ids=batch.clip_ids)
