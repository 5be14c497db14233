"""Tiny model configurations that run in seconds on a CPU."""

from dynaflip.models import FlowEncoderConfig, ImageEncoderConfig, ModelConfig
from dynaflip.objective import ObjectiveConfig

TINY_IMAGE = ImageEncoderConfig(
    name="vit_tiny_patch16_224",
    img_size=32,
    model_kwargs={"patch_size": 8, "embed_dim": 48, "depth": 2, "num_heads": 3},
)
TINY_FLOW = FlowEncoderConfig(cnn_channels=8, cnn_layers=3, width=32, depth=2, heads=2, max_steps=8)


def tiny_model_config(*, grid_size: int = 4) -> ModelConfig:
    return ModelConfig(image=TINY_IMAGE, flow=TINY_FLOW, embed_dim=16, head_hidden_dim=32, grid_size=grid_size)


def objective(**overrides) -> ObjectiveConfig:
    return ObjectiveConfig(**overrides)
