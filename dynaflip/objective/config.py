"""The objective's switches and weights. Every ablation of the paper is one of these fields.

=========================  ======================================================================
paper ablation             config
=========================  ======================================================================
full DynaFLIP              (defaults)
no 3D flow                 ``modalities: [image, language]`` (pairwise image-language InfoNCE)
no language                ``modalities: [image, flow]`` (pairwise image-flow InfoNCE)
anchor-based alignment     ``alignment: pairwise`` (each modality against ``anchor``)
no negatives               ``negatives: false`` (minimise the positive energy only)
no cosine regulariser      ``alpha: 0``
image in the regulariser   ``cosine_pairs: all_pairs`` (not in the paper: C = mean of the 3 cosines)
no actor loss              ``lambda_act: 0``
no temporal loss           ``lambda_tcn: 0``
image only (baseline)      ``modalities: [image]`` (no alignment; temporal and actor terms only)
=========================  ======================================================================

Remedies for feature collapse (issue 22; not in the paper, so off by default, each an ablation):
``tcn_on: projection`` (the temporal loss on a projection head's output, not on the backbone features),
``lambda_vicreg > 0`` (VICReg variance/covariance on the frame embeddings the temporal loss sees), and the
backbone's own learning rate / weight decay (``optim.backbone_lr_scale``, ``optim.backbone_weight_decay``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .energy import CosinePairs

Modality = Literal["image", "language", "flow"]
MODALITIES: tuple[str, ...] = ("image", "language", "flow")


@dataclass
class ObjectiveConfig:
    alignment: Literal["area", "pairwise"] = "area"
    modalities: list[Modality] = field(default_factory=lambda: ["image", "language", "flow"])
    anchor: Modality = "language"
    negatives: bool = True
    alpha: float = 1.0
    # The regulariser's cosine: the paper's <z_L, z_F>, or the mean of all three pairwise cosines (an ablation
    # for the collapse case, where every area vanishes and only this term discriminates).
    cosine_pairs: CosinePairs = "language_flow"
    temperature: float = 0.07
    learnable_temperature: bool = False
    area_eps: float = 1e-8
    # Identical instructions in one batch are not negatives of each other when language is the anchor.
    mask_duplicate_text: bool = True
    # Samples of the same clip (another reference frame, or the same sample drawn twice by the resampled
    # shards) are not negatives of each other, for every anchor.
    mask_same_clip: bool = True
    lambda_tcn: float = 1.0
    tcn_temperature: float = 0.1
    lambda_act: float = 1.0
    # Where the temporal loss reads frames: the backbone features d_t (the paper) or a projection head on them
    # (SimCLR's finding: the projector absorbs what the loss discards and the features before it stay richer).
    tcn_on: Literal["features", "projection"] = "features"
    # VICReg variance + covariance on the per-frame embeddings (the projection's output with tcn_on:
    # projection, else d_t): lambda_vicreg * (variance + vicreg_covariance_weight * covariance). 0 = off.
    lambda_vicreg: float = 0.0
    vicreg_gamma: float = 1.0  # the std each dimension is kept at, at least
    vicreg_covariance_weight: float = 0.04  # VICReg's nu / mu = 1 / 25

    def __post_init__(self) -> None:
        if "image" not in self.modalities:
            raise ValueError(
                f"objective.modalities: must include 'image' (the encoder being trained), got {self.modalities}"
            )
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"objective.modalities: duplicates in {self.modalities}")
        if self.alignment == "pairwise" and len(self.modalities) == 3 and self.anchor not in self.modalities:
            raise ValueError(f"objective.anchor: '{self.anchor}' is not among modalities {self.modalities}")
        if self.cosine_pairs not in ("language_flow", "all_pairs"):
            raise ValueError(f"objective.cosine_pairs: expected language_flow or all_pairs, got {self.cosine_pairs!r}")
        if self.temperature <= 0 or self.tcn_temperature <= 0:
            raise ValueError("objective.temperature and objective.tcn_temperature must be positive")
        if self.tcn_on not in ("features", "projection"):
            raise ValueError(f"objective.tcn_on: expected features or projection, got {self.tcn_on!r}")
        if self.lambda_vicreg < 0 or self.vicreg_gamma <= 0 or self.vicreg_covariance_weight < 0:
            raise ValueError(
                "objective.lambda_vicreg / vicreg_gamma / vicreg_covariance_weight: expected >= 0 / > 0 / >= 0, "
                f"got {self.lambda_vicreg} / {self.vicreg_gamma} / {self.vicreg_covariance_weight}"
            )

    @property
    def uses_language(self) -> bool:
        return "language" in self.modalities

    @property
    def uses_flow(self) -> bool:
        return "flow" in self.modalities

    @property
    def uses_frame_embeddings(self) -> bool:
        """Whether a term reads per-frame embeddings (the temporal loss or the VICReg terms)."""
        return self.lambda_tcn > 0 or self.lambda_vicreg > 0

    @property
    def has_alignment(self) -> bool:
        return len(self.modalities) > 1
