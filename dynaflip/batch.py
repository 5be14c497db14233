"""The training batch: what the loader's ``collate``, the synthetic batch and the trainer's batch preparer hand
on, and what :func:`dynaflip.step.forward_and_loss` takes. One typed record, so renaming a field is one edit.

A batch comes in two stages with the same type: as loaded (``frames`` uint8, instructions as text, maybe a
cached text embedding) and as prepared for the model (``frames`` normalised floats on the device in the
model's input dtype). :meth:`Batch.to` carries the precision rule both share: the 3D points never go below
float32 (bf16 would round millimetre displacements at 1 m away).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class StreamMark:
    """Where the loader worker that built a batch stood: what an exact resume needs (see ``train/data.py``)."""

    worker: int  # effective loader worker
    raw_consumed: int  # raw samples this worker has read so far, skipped ones included
    skipped: int  # corrupt samples skipped since the worker's previous batch


@dataclass
class Batch:
    """B samples of image-language-3D-flow triplets, as tensors."""

    frames: torch.Tensor  # (B, 3, C, H, W) [I_t, I_mid, I_t+H]: uint8 as loaded, normalised once prepared
    points3d: torch.Tensor  # (B, K, N, 3) at least float32
    points3d_valid: torch.Tensor  # (B, K, N) bool
    text_ids: torch.Tensor  # (B,) int64: equal ids are equal instructions (not negatives of each other)
    clip_ids: torch.Tensor  # (B,) int64: equal ids come from the same clip
    queries2d: torch.Tensor | None = None  # (B, N, 2) where the tracked points are in the (augmented) frames
    text_embedding: torch.Tensor | None = None  # (B, D_text) frozen text features, cached or computed
    text_encoder: str | None = None  # the model behind a cached text_embedding
    instructions: list[str] | None = None  # the instructions as text (to embed them when not cached)
    stream: StreamMark | None = None  # set by the training loader

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def to(
        self, device: torch.device | str | None = None, *, dtype: torch.dtype | None = None, non_blocking: bool = False
    ) -> Batch:
        """Moved to ``device``; with ``dtype``, the frames and text embedding cast to it (the model's input
        dtype) and the points to ``dtype`` or float32, whichever is wider."""
        casts = {"frames": dtype, "text_embedding": dtype}
        if dtype is not None:
            casts["points3d"] = torch.promote_types(dtype, torch.float32)
        return self._map(lambda name, t: t.to(device=device, dtype=casts.get(name), non_blocking=non_blocking))

    def rows(self, start: int, stop: int) -> Batch:
        """Samples ``start`` to ``stop`` (a rank's share, or a micro-batch)."""
        instructions = self.instructions[start:stop] if self.instructions is not None else None
        return self._map(lambda _, t: t[start:stop], instructions=instructions)

    def split(self, parts: int) -> list[Batch]:
        """``parts`` equal micro-batches, in order."""
        if parts < 1 or len(self) % parts:
            raise ValueError(f"a batch of {len(self)} does not split into {parts} equal micro-batches")
        size = len(self) // parts
        return [self.rows(start, start + size) for start in range(0, len(self), size)]

    def pin_memory(self) -> Batch:
        """Page-locked copies (the DataLoader calls this when its ``pin_memory`` is on)."""
        return self._map(lambda _, t: t.pin_memory())

    def _map(self, function: Callable[[str, torch.Tensor], torch.Tensor], **changes: Any) -> Batch:
        tensors = {name: getattr(self, name) for name in _TENSOR_FIELDS}
        mapped = {name: None if t is None else function(name, t) for name, t in tensors.items()}
        return dataclasses.replace(self, **mapped, **changes)


_TENSOR_FIELDS = ("frames", "points3d", "points3d_valid", "text_ids", "clip_ids", "queries2d", "text_embedding")
