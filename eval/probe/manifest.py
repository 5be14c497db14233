"""``dataset.json``: the probe dataset's manifest, its checks, and the fingerprint that identifies it.

The manifest is written last, so a folder whose manifest says ``"complete": true`` has all its split files.
The fingerprint (``dataset_id``) hashes the build settings and every split file's bytes: the feature cache
keys on it, so rebuilt data never reuses stale features.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dynaflip.errors import DynaflipError
from dynaflip.hub.checksum import file_sha256

FORMAT = "dynaflip-probe-data"
FORMAT_VERSION = 1
MANIFEST_FILE = "dataset.json"
BUILD_FILE = "build.json"  # the settings of a build in progress (what a resumed build must match)
PARTS_DIR = "parts"  # one file per finished episode while a build runs


class ProbeDataError(DynaflipError, ValueError):
    """A probe dataset folder is missing, incomplete or malformed; the message names the file and field."""


def fingerprint(settings: dict[str, Any], files: dict[str, Path]) -> str:
    """16 hex digits over the settings and the content of each split file."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for split in sorted(files):
        digest.update(f"{split}:{file_sha256(files[split])}".encode())
    return digest.hexdigest()[:16]


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The checked manifest of a finished probe dataset folder; anything else raises ProbeDataError."""
    root = Path(root)
    hint = "expected a folder made by 'dynaflip-probe build-data'"
    if not root.is_dir():
        raise ProbeDataError(f"probe data: folder '{root}' does not exist ({hint})")
    path = root / MANIFEST_FILE
    if not path.is_file():
        if (root / BUILD_FILE).is_file():
            raise ProbeDataError(
                f"probe data: '{path}' is missing: the build did not finish (rerun build-data to resume)"
            )
        raise ProbeDataError(f"probe data: '{path}' is missing ({hint})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ProbeDataError(f"probe data: '{path}' is not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProbeDataError(f"probe data: '{path}' field 'format': expected {FORMAT!r}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ProbeDataError(f"probe data: '{path}' field 'format_version': expected {FORMAT_VERSION}, got {version}")
    for key in ("dataset_id", "tasks", "splits", "settings"):
        if key not in manifest:
            raise ProbeDataError(f"probe data: '{path}' field '{key}' is missing")
    if manifest.get("complete") is not True:
        raise ProbeDataError(f"probe data: '{path}' field 'complete' is not true (rerun build-data to finish)")
    for split, entry in manifest["splits"].items():
        if not (root / entry["file"]).is_file():
            raise ProbeDataError(f"probe data: split file '{root / entry['file']}' of split '{split}' is missing")
    return manifest
