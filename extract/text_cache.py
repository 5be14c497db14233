"""Frozen text embeddings, computed once per unique instruction and cached in the output folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynaflip.io import atomic_path

CACHE_FILE = "text_embeddings.npz"


def text_embeddings(
    instructions: set[str], *, encoder_name: str, out_dir: Path, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Embeddings (float32) of ``instructions`` with the frozen ``encoder_name``; reuses and extends the
    folder's cache, so a resumed run never recomputes them."""
    cache = out_dir / CACHE_FILE
    known: dict[str, np.ndarray] = {}
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            if str(data["encoder"]) == encoder_name:
                known = dict(zip(data["instructions"].tolist(), data["embeddings"], strict=True))
    missing = sorted(instructions - set(known))
    if missing:
        from dynaflip.models.text_encoder import FrozenTextEncoder, TextEncoderConfig

        encoder = FrozenTextEncoder(TextEncoderConfig(name=encoder_name))
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            for text, vector in zip(chunk, encoder(chunk).numpy().astype(np.float32), strict=True):
                known[text] = vector
        names = sorted(known)
        with atomic_path(cache) as temp:
            with open(temp, "wb") as handle:
                np.savez(
                    handle,
                    encoder=np.array(encoder_name),
                    instructions=np.array(names),
                    embeddings=np.stack([known[name] for name in names]),
                )
    return {text: known[text] for text in instructions}
