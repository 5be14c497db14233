"""Check an export folder (or a config/weights pair) before it is cached, loaded from a download, or pushed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .checksum import file_sha256, is_sha256
from .errors import ChecksumError
from .format import CONFIG_FILE, WEIGHTS_FILE, ExportFormatError, read_config

CARD_FILE = "README.md"


def expected_weights_sha256(config: dict[str, Any], *, where: str) -> str:
    sha = config.get("weights_sha256")
    if not is_sha256(sha):
        raise ExportFormatError(f"{where}: field 'weights_sha256': expected a sha256 hex digest, got {sha!r}")
    return sha


def verify_weights(weights: str | Path, sha256: str, *, source: str) -> None:
    """Raise :class:`ChecksumError` unless ``weights`` hashes to ``sha256``."""
    weights = Path(weights)
    # The Hugging Face cache names LFS blobs by their sha256: a matching blob name spares hashing the file.
    if Path(os.path.realpath(weights)).name == sha256:
        return
    actual = file_sha256(weights)
    if actual != sha256:
        raise ChecksumError(f"{source}: {WEIGHTS_FILE} has sha256 {actual}, but {CONFIG_FILE} says {sha256}")


_VERIFIED: set[tuple[str, int, int, str]] = set()  # (real path, size, mtime_ns, sha256) checked in this process


def verify_weights_once(weights: str | Path, sha256: str, *, source: str) -> None:
    """:func:`verify_weights`, hashing a file again only when its size or modification time changed (an
    evaluation that loads the same export many times pays for one hash)."""
    path = Path(os.path.realpath(weights))
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, sha256)
    if key in _VERIFIED:
        return
    verify_weights(path, sha256, source=source)
    _VERIFIED.add(key)


def verify_export_folder(folder: str | Path, *, require_card: bool = False) -> dict[str, Any]:
    """The folder's config after checking the format, the weights' presence and checksum (and the card)."""
    folder = Path(folder)
    config = read_config(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ExportFormatError(f"{weights}: missing")
    verify_weights(weights, expected_weights_sha256(config, where=str(folder / CONFIG_FILE)), source=str(folder))
    if require_card and not (folder / CARD_FILE).is_file():
        raise ExportFormatError(f"{folder / CARD_FILE}: missing (the model card; dynaflip-export writes it)")
    return config
