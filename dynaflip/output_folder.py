"""Checking an output folder option before any work: a CLI that computes for minutes and then finds its
``--out`` is a file (or under one, or not writable) wastes the user's time."""

from __future__ import annotations

import os
from pathlib import Path

from dynaflip.errors import DynaflipError


class OutputFolderError(DynaflipError, ValueError):
    """An output folder that cannot be one; the message names the option and the path."""


def check_output_folder(path: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """``path`` as a Path when it is a folder or one can be made there; else a one-line OutputFolderError."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"{option} {folder}: is a file; expected a folder (new or existing)")
    existing = next((parent for parent in (folder, *folder.absolute().parents) if parent.exists()), None)
    if existing is None:  # pragma: no cover - the root always exists
        return folder
    if not existing.is_dir():
        raise OutputFolderError(f"{option} {folder}: {existing} is a file, so no folder can be made there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputFolderError(f"{option} {folder}: {existing} is not writable")
    return folder
