"""The image encoder f: any timm backbone, returning d_t = [CLS ; mean of patch tokens] per frame.

This is the only network a deployed user needs. For backbones without a class token (CNNs), the first
half of d_t is the global max over the spatial tokens and the second half their mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dynaflip.errors import DynaflipError


@dataclass
class ImageEncoderConfig:
    """Which timm backbone and how to initialise it.

    ``pretrained``: ``false`` (random init), ``true`` (timm's own weight source; offline this works only
    when the weights are already in the Hugging Face cache), or a path to a local weights file
    (``.safetensors``/``.pth``/``.bin``) for the named architecture.
    """

    name: str = "vit_base_patch14_dinov2"
    pretrained: bool | str = False
    img_size: int = 224
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    drop_path_rate: float = 0.0
    grad_checkpointing: bool = False


@dataclass
class ImageFeatures:
    """What the encoder returns: the pooled feature d_t and the token map."""

    features: torch.Tensor  # (B, 2C) = [CLS ; mean patch]
    cls: torch.Tensor  # (B, C)
    patch_tokens: torch.Tensor  # (B, P, C)


class PretrainedWeightsUnavailable(DynaflipError, RuntimeError):
    """Pretrained weights were asked for but cannot be found locally (and no hub is reachable)."""


def create_timm_backbone(config: ImageEncoderConfig) -> nn.Module:
    """Create the timm model without its classifier, loading pretrained weights as configured."""
    import timm

    kwargs: dict[str, Any] = dict(config.model_kwargs)
    kwargs.setdefault("num_classes", 0)
    if config.drop_path_rate:
        kwargs["drop_path_rate"] = config.drop_path_rate
    if _is_vit_like(config.name):
        kwargs.setdefault("img_size", config.img_size)
    pretrained = config.pretrained
    if isinstance(pretrained, str):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise PretrainedWeightsUnavailable(
                f"image.pretrained: weights file '{path}' not found (expected a local .safetensors/.pth file "
                f"for '{config.name}', true for timm's cache, or false)"
            )
        kwargs["pretrained_cfg_overlay"] = {"file": str(path)}
        pretrained = True
    if not timm.is_model(config.name):
        import difflib

        close = difflib.get_close_matches(config.name, timm.list_models(), n=3)
        raise ValueError(f"image.name: unknown timm model '{config.name}' (closest: {', '.join(close)})")
    try:
        model = timm.create_model(config.name, pretrained=bool(pretrained), **kwargs)
    except Exception as error:
        if not pretrained:
            raise
        raise PretrainedWeightsUnavailable(
            f"image.pretrained: could not load pretrained weights for '{config.name}' "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200]}). Offline, point image.pretrained "
            "at a local weights file, or set image.pretrained=false for a random init."
        ) from None
    if config.grad_checkpointing:
        model.set_grad_checkpointing(True)
    return model


def _is_vit_like(name: str) -> bool:
    return any(tag in name for tag in ("vit", "deit", "eva", "beit", "dinov2", "siglip"))


class ImageEncoder(nn.Module):
    """Frame encoder: images (B, 3, H, W), normalised, -> d_t (B, 2C)."""

    def __init__(self, config: ImageEncoderConfig | None = None, *, backbone: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config or ImageEncoderConfig()
        self.backbone = backbone if backbone is not None else create_timm_backbone(self.config)
        self.num_prefix_tokens = int(getattr(self.backbone, "num_prefix_tokens", 0))
        self.embed_dim = int(getattr(self.backbone, "embed_dim", 0) or self.backbone.num_features)

    @property
    def output_dim(self) -> int:
        return 2 * self.embed_dim

    @property
    def data_config(self) -> dict[str, Any]:
        """What :class:`~dynaflip.models.preprocess.Preprocess` feeds this encoder, in timm's data-config keys:
        the input size, the backbone's mean and std (timm's resolved config), and Preprocess's own resize and
        crop (bilinear, crop_pct 1.0: the short side resized, the centre square kept), not the timm
        defaults it does not apply (e.g. bicubic, crop_pct 0.875)."""
        import timm

        from .preprocess import describe

        data_config = timm.data.resolve_data_config({}, model=self.backbone)
        data_config["input_size"] = (3, self.config.img_size, self.config.img_size)
        data_config.update(describe())
        return data_config

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, T, C) token sequence after the final norm; CNN maps are flattened to (B, H*W, C)."""
        out = self.backbone.forward_features(images)
        if out.ndim == 4:  # CNN: (B, C, H, W)
            out = out.flatten(2).transpose(1, 2)
        return out

    def pool(self, tokens: torch.Tensor) -> ImageFeatures:
        if self.num_prefix_tokens > 0:
            cls = tokens[:, 0]
            patches = tokens[:, self.num_prefix_tokens :]
        else:
            patches = tokens
            cls = tokens.amax(dim=1)
        features = torch.cat([cls, patches.mean(dim=1)], dim=-1)
        return ImageFeatures(features=features, cls=cls, patch_tokens=patches)

    def encode(self, images: torch.Tensor) -> ImageFeatures:
        return self.pool(self.tokens(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode(images).features

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """timm-style feature API: the full token map (B, T, C)."""
        return self.tokens(images)

    def intermediate_features(self, images: torch.Tensor, *, last_n: int = 4) -> list[torch.Tensor]:
        """[CLS ; mean patch] of each of the last ``last_n`` blocks (the DINOv2 linear-probe protocol)."""
        if not hasattr(self.backbone, "forward_intermediates") or self.num_prefix_tokens == 0:
            if last_n != 1:
                raise ValueError(f"last_n: '{self.config.name}' exposes only its final features, got last_n={last_n}")
            return [self.forward(images)]
        outputs = self.backbone.forward_intermediates(
            images, indices=last_n, return_prefix_tokens=True, norm=True, output_fmt="NLC", intermediates_only=True
        )
        pooled = []
        for patches, prefix in outputs:
            pooled.append(torch.cat([prefix[:, 0], patches.mean(dim=1)], dim=-1))
        return pooled
