"""The DynaFLIP objective: simplex-area InfoNCE, cosine regulariser, temporal contrastive and actor losses."""

from .actor import actor_loss
from .alignment import NegativeMasks, area_alignment_loss, pairwise_alignment_loss, positive_energy_loss
from .area import area_from_dots, safe_sqrt, triangle_area
from .config import ObjectiveConfig
from .energy import anchored_energy_matrices, cosine_term, triplet_area, triplet_energy
from .infonce import info_nce
from .loss import DynaFLIPLoss, LossOutput
from .temporal import temporal_contrastive_loss
from .vicreg import variance_covariance_terms

__all__ = [
    "DynaFLIPLoss",
    "LossOutput",
    "NegativeMasks",
    "ObjectiveConfig",
    "actor_loss",
    "anchored_energy_matrices",
    "area_alignment_loss",
    "area_from_dots",
    "cosine_term",
    "info_nce",
    "pairwise_alignment_loss",
    "positive_energy_loss",
    "safe_sqrt",
    "temporal_contrastive_loss",
    "triangle_area",
    "triplet_area",
    "triplet_energy",
    "variance_covariance_terms",
]
