"""DynaFLIP networks. Only :class:`ImageEncoder` is needed at deployment."""

from .dynaflip_model import DynaFLIP, DynaFLIPOutputs, ModelConfig
from .flow_encoder import FlowEncoder, FlowEncoderConfig
from .heads import ActorHead, TransitionHead
from .image_encoder import ImageEncoder, ImageEncoderConfig, ImageFeatures, PretrainedWeightsUnavailable
from .preprocess import Preprocess
from .text_encoder import FrozenTextEncoder, TextAdapter, TextEncoderConfig

__all__ = [
    "ActorHead",
    "DynaFLIP",
    "DynaFLIPOutputs",
    "FlowEncoder",
    "FlowEncoderConfig",
    "FrozenTextEncoder",
    "ImageEncoder",
    "ImageEncoderConfig",
    "ImageFeatures",
    "ModelConfig",
    "Preprocess",
    "PretrainedWeightsUnavailable",
    "TextAdapter",
    "TextEncoderConfig",
    "TransitionHead",
]
