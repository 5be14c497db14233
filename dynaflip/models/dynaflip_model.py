"""The DynaFLIP training model: the image encoder f plus the heads that exist only during training
(transition head, text adapter, flow encoder, actor head). Which heads are built follows the objective,
so an ablation never carries parameters it does not train (DDP requires every parameter to get a gradient).

The frozen text model is not part of this module: the trainer (or the extractor, ahead of time) turns
instructions into frozen embeddings, and the model sees only those. Checkpoints therefore never contain
the frozen text weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from dynaflip.geometry import query_grid
from dynaflip.objective.config import ObjectiveConfig
from dynaflip.schema import DEFAULT_GRID_SIZE

from .flow_encoder import FlowEncoder, FlowEncoderConfig
from .flow_inputs import at_least_float32, flow_scale, one_step_flow
from .heads import ActorHead, ProjectionHead, TransitionHead, TransitionInputs
from .image_encoder import ImageEncoder, ImageEncoderConfig
from .text_encoder import TextAdapter, TextEncoderConfig

# Positions of the frames in a training batch's `frames` tensor (B, 3, C, H, W).
REFERENCE, MIDDLE, LATER = 0, 1, 2


@dataclass
class ModelConfig:
    image: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    flow: FlowEncoderConfig = field(default_factory=FlowEncoderConfig)
    embed_dim: int = 512
    head_hidden_dim: int = 1024
    transition_inputs: TransitionInputs = "difference"
    grid_size: int = DEFAULT_GRID_SIZE
    # Width of the frame projection built when objective.tcn_on is 'projection' (null: embed_dim).
    projection_dim: int | None = None


@dataclass
class DynaFLIPOutputs:
    """Everything the objective needs from one forward pass (local batch)."""

    embeddings: dict[str, torch.Tensor]  # unit vectors per modality in the objective: image/language/flow
    # (B, 3, D) per-frame embeddings of [I_t, I_mid, I_t+H] for the temporal loss: d_t, or its projection with
    # objective.tcn_on = projection. Without the temporal loss but with VICReg: the frames encoded, (B, k, D).
    frame_features: torch.Tensor | None
    actor_prediction: torch.Tensor | None  # (B, N, 3)
    actor_target: torch.Tensor | None
    actor_mask: torch.Tensor | None
    logit_scale: torch.Tensor


def default_queries(grid_size: int, *, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(B, N, 2) the extractor's default query grid (``dynaflip.geometry.query_grid``) for every sample."""
    grid = torch.from_numpy(query_grid(grid_size=grid_size, width=width, height=height)).to(like.device)
    return grid.unsqueeze(0).expand(like.shape[0], -1, -1)


class DynaFLIP(nn.Module):
    def __init__(self, model: ModelConfig, objective: ObjectiveConfig, *, text_dim: int | None = None) -> None:
        super().__init__()
        self.model_config = model
        self.objective = objective
        self.image_encoder = ImageEncoder(model.image)
        image_dim = self.image_encoder.output_dim
        self.transition = None
        if objective.has_alignment:
            self.transition = TransitionHead(
                image_dim, model.embed_dim, hidden_dim=model.head_hidden_dim, inputs=model.transition_inputs
            )
        self.text_adapter = None
        if objective.uses_language:
            if not text_dim:
                raise ValueError("text_dim: the frozen text encoder's output size is needed when language is used")
            self.text_adapter = TextAdapter(text_dim, model.embed_dim, hidden_dim=model.head_hidden_dim)
        self.flow_encoder = None
        if objective.uses_flow:
            self.flow_encoder = FlowEncoder(
                model.flow, grid_size=model.grid_size, image_dim=image_dim, embed_dim=model.embed_dim
            )
        self.frame_projection = None
        if objective.tcn_on == "projection" and objective.uses_frame_embeddings:
            width = model.projection_dim or model.embed_dim
            self.frame_projection = ProjectionHead(image_dim, width, hidden_dim=model.head_hidden_dim)
        self.actor = None
        if objective.lambda_act > 0:
            self.actor = ActorHead(image_dim, hidden_dim=model.head_hidden_dim)
        initial = math.log(1 / objective.temperature)
        # A fixed temperature stays a Python float: a buffer would be cast with the module (bf16 under
        # DeepSpeed rounds 1/0.07 = 14.29 to 14.25).
        self.fixed_logit_scale = 1 / objective.temperature
        if objective.learnable_temperature:
            self.log_logit_scale = nn.Parameter(torch.tensor(initial))

    def frames_needed(self) -> list[int]:
        """Which of [I_t, I_mid, I_t+H] this configuration encodes."""
        needed = {REFERENCE}
        if self.objective.lambda_tcn > 0:
            needed |= {MIDDLE, LATER}
        if self.transition is not None and self.transition.frames_needed == 2:
            needed.add(LATER)
        return sorted(needed)

    def forward(
        self,
        frames: torch.Tensor,
        *,
        points3d: torch.Tensor | None = None,
        points3d_valid: torch.Tensor | None = None,
        text_embedding: torch.Tensor | None = None,
        queries2d: torch.Tensor | None = None,
    ) -> DynaFLIPOutputs:
        """``frames`` (B, 3, C, H, W) = [I_t, I_mid, I_t+H], normalised; ``points3d`` (B, K, N, 3) and
        ``points3d_valid`` (B, K, N) the 3D flow; ``text_embedding`` (B, D_text) frozen text features.

        Frames and text embeddings come in the parameters' dtype (bf16 under a bf16 DeepSpeed engine); the
        3D points stay float32 (bf16 would round millimetre displacements at 1 m away) and are converted to
        the networks' dtype only after the flow channels and actor targets are computed from them.
        ``queries2d`` (B, N, 2): where each tracked point is in ``frames`` (pixels of the augmented image);
        default: the stored query grid of an uncropped frame (5 % margins, see ``dynaflip.geometry``). Points
        outside the image are left out of the actor loss."""
        batch = frames.shape[0]
        needed = self.frames_needed()
        encoded = self.image_encoder(frames[:, needed].flatten(0, 1)).view(batch, len(needed), -1)
        features = {index: encoded[:, position] for position, index in enumerate(needed)}
        reference = features[REFERENCE]

        embeddings: dict[str, torch.Tensor] = {}
        if self.transition is not None:
            embeddings["image"] = self.transition(reference, features.get(LATER))
        if self.text_adapter is not None:
            if text_embedding is None:
                raise ValueError("text_embedding: required when the objective uses language")
            embeddings["language"] = self.text_adapter(text_embedding)
        if self.flow_encoder is not None or self.actor is not None:
            if points3d is None or points3d_valid is None:
                raise ValueError("points3d and points3d_valid: required when the objective uses flow or the actor")
        if self.flow_encoder is not None:
            embeddings["flow"] = self.flow_encoder(points3d, points3d_valid, reference)

        actor_prediction = actor_target = actor_mask = None
        if self.actor is not None:
            scale = flow_scale(
                at_least_float32(points3d), points3d_valid, normalization=self.model_config.flow.normalization
            )
            actor_target, actor_mask = one_step_flow(at_least_float32(points3d), points3d_valid, scale=scale)
            height, width = frames.shape[-2:]
            if queries2d is None:
                queries2d = default_queries(self.model_config.grid_size, height=height, width=width, like=points3d)
            size = torch.tensor([width, height], dtype=torch.float32, device=frames.device)
            normalised = (queries2d.float() + 0.5) / size * 2 - 1  # pixel centres -> [-1, 1] edge to edge
            actor_mask = actor_mask & (normalised.abs() <= 1).all(dim=-1)  # not in the image: no target
            actor_prediction = self.actor(reference, normalised)
            actor_mask = actor_mask.to(actor_prediction.dtype)

        frame_features = None
        if self.objective.lambda_tcn > 0:
            frame_features = torch.stack([features[REFERENCE], features[MIDDLE], features[LATER]], dim=1)
        elif self.objective.lambda_vicreg > 0:
            frame_features = encoded
        if frame_features is not None and self.frame_projection is not None:
            frame_features = self.frame_projection(frame_features)
        return DynaFLIPOutputs(
            embeddings=embeddings,
            frame_features=frame_features,
            actor_prediction=actor_prediction,
            actor_target=actor_target,
            actor_mask=actor_mask,
            logit_scale=self.logit_scale(frames.device),
        )

    def logit_scale(self, device: torch.device) -> torch.Tensor:
        """1 / temperature in float32 (learnable: exp of the parameter, clamped at 100 as CLIP does)."""
        if self.objective.learnable_temperature:
            return at_least_float32(self.log_logit_scale).exp().clamp(max=100.0)
        return torch.tensor(self.fixed_logit_scale, dtype=torch.float32, device=device)
