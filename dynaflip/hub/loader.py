"""``dynaflip.load``: one call from a name, path or URL to a frozen image encoder and its preprocessing."""

from __future__ import annotations

from pathlib import Path

import torch

from dynaflip.models.image_encoder import ImageEncoder
from dynaflip.models.preprocess import Preprocess

from .format import encoder_from_files, preprocess_from_config
from .hf import HF_PREFIX
from .remote import is_url
from .resolve import ResolvedEncoder, resolve
from .verify import expected_weights_sha256, verify_weights_once


def load(
    name_or_path_or_url: str | Path,
    *,
    device: str | torch.device | None = None,
    freeze: bool = True,
    cache_dir: str | Path | None = None,
    registry: str | Path | None = None,
) -> tuple[ImageEncoder, Preprocess]:
    """(image encoder in eval mode, its :class:`Preprocess`) from any source :func:`resolve` accepts.

    ``name_or_path_or_url``: a registry name (``NAME`` or ``NAME@TAG``), a local export folder, its
    ``model.safetensors`` or ``config.json``, an archive of one (``.tar``, ``.tar.gz``, ``.zip``),
    ``hf-hub:org/repo[@revision]``, or an http(s) URL of an export folder or archive
    (``#sha256=<hex>`` pins an archive). ``freeze``: no gradients (``requires_grad=False``).
    ``cache_dir``: instead of ``$DYNAFLIP_CACHE`` (default ``~/.cache/dynaflip``). ``registry``: another
    registry file. The encoder maps normalised images (B, 3, S, S) to ``[CLS ; mean patch]`` (B, 2C).
    A local export whose ``config.json`` records ``weights_sha256`` is checked against it (downloads and
    registry entries are checked when fetched), so corrupted weight bytes are refused, never loaded.
    """
    resolved = resolve(name_or_path_or_url, cache_dir=cache_dir, registry=registry)
    _verify_local(name_or_path_or_url, resolved)
    encoder = encoder_from_files(resolved.config, resolved.weights, device=device)
    encoder.requires_grad_(not freeze)
    return encoder, preprocess_from_config(resolved.config)


def load_preprocess(
    name_or_path_or_url: str | Path, *, cache_dir: str | Path | None = None, registry: str | Path | None = None
) -> Preprocess:
    """The :class:`Preprocess` of an encoder without building the network."""
    return preprocess_from_config(resolve(name_or_path_or_url, cache_dir=cache_dir, registry=registry).config)


def _verify_local(name_or_path_or_url: str | Path, resolved: ResolvedEncoder) -> None:
    """Check a local export's weights against the sha256 its config.json records (ChecksumError otherwise)."""
    text = str(name_or_path_or_url)
    if text.startswith(HF_PREFIX) or is_url(text) or not Path(text).expanduser().exists():
        return  # fetched: verified on download; a registry name: verified against the registry
    if resolved.config.get("weights_sha256") is None:
        return  # an older export without a checksum: nothing to check against
    sha256 = expected_weights_sha256(resolved.config, where=str(resolved.config_path))
    verify_weights_once(resolved.weights, sha256, source=str(resolved.config_path.parent))
