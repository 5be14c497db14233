"""torch.hub entry points of DynaFLIP.

    encoder = torch.hub.load("path/to/dynaflip", "dynaflip_encoder", source="local", name_or_path="...")
    preprocess = torch.hub.load("path/to/dynaflip", "dynaflip_preprocess", source="local", name_or_path="...")

``name_or_path`` takes everything ``dynaflip.load`` does: a registry name, an export folder or archive,
``hf-hub:org/repo`` or an http(s) URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from dynaflip.models.preprocess import Preprocess

dependencies = ["torch", "timm", "safetensors", "yaml", "huggingface_hub", "tqdm"]


def dynaflip_encoder(
    name_or_path: str, *, device: str | None = None, freeze: bool = True, cache_dir: str | None = None
) -> torch.nn.Module:
    """The DynaFLIP image encoder (eval mode): normalised images (B, 3, S, S) -> [CLS ; mean patch] (B, 2C)."""
    # Imported here, while torch.hub has this repository on sys.path, so its own dynaflip is used.
    from dynaflip.hub.loader import load

    encoder, _ = load(name_or_path, device=device, freeze=freeze, cache_dir=cache_dir)
    return encoder


def dynaflip_preprocess(name_or_path: str, *, cache_dir: str | None = None) -> Preprocess:
    """The matching preprocessing: uint8 images -> resized, centre-cropped, normalised float batch."""
    from dynaflip.hub.loader import load_preprocess

    return load_preprocess(name_or_path, cache_dir=cache_dir)
