"""Finding a video file by name under a folder: case-insensitive extensions, each folder listed once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def is_video(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


class VideoFinder:
    """Looks up ``NAME`` + one of ``extensions`` (in that order of preference) in folders under ``root``.

    Listing a folder once and matching lower-cased names costs one ``listdir`` for a folder of 200k videos
    (Something-Something) instead of a ``stat`` per candidate, and finds ``P01_01.MP4`` when asked for
    ``.mp4`` (EPIC-Kitchens ships upper-case extensions).
    """

    def __init__(self, root: str | os.PathLike[str], *, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> None:
        self.root = Path(root)
        self.extensions = tuple(ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in extensions)
        self._listings: dict[Path, dict[str, str]] = {}

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._listings:
            try:
                names = sorted(os.listdir(folder))  # sorted: 'a.MP4' beats 'a.mp4' the same way every run
            except OSError:
                names = []
            listing: dict[str, str] = {}
            for name in names:
                listing.setdefault(name.lower(), name)
            self._listings[folder] = listing
        return self._listings[folder]

    def find(self, name: str, *, folders: Sequence[str] = ("",)) -> Path | None:
        """The first existing ``root/FOLDER/NAME.EXT``; ``name`` may hold sub-folders or its own extension."""
        relative = Path(name)
        for folder in folders:
            directory = self.root / folder / relative.parent
            listing = self._listing(directory)
            candidates = [relative.name] if is_video(relative.name) else []
            candidates += [relative.name + ext for ext in self.extensions]
            for candidate in candidates:
                actual = listing.get(candidate.lower())
                if actual is not None and (directory / actual).is_file():
                    return directory / actual
        return None
