"""Turn what a user passes to ``dynaflip.load`` into a config and a local, verified weights file.

Accepted, checked in this order:

1. ``hf-hub:org/repo`` or ``hf-hub:org/repo@revision``: an export on the Hugging Face Hub;
2. ``http(s)://...``: an export folder URL, or an archive URL (optionally ``#sha256=<hex>``);
3. an existing local path: an export folder, its ``config.json`` or ``model.safetensors``, or a
   ``.tar``/``.tar.gz``/``.tgz``/``.zip`` archive of an export folder;
4. a registry name, ``NAME`` or ``NAME@TAG`` (see :mod:`dynaflip.hub.registry`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .archive import extract_export_archive, is_archive_name
from .checksum import file_sha256
from .errors import ChecksumError, DownloadError, HubError, OfflineError, WeightsNotAvailableError
from .format import CONFIG_FILE, WEIGHTS_FILE, ExportFormatError, read_config
from .hf import HF_PREFIX, fetch_hf, parse_hf_spec
from .registry import WEIGHT_SOURCES, RegistryEntry, find_entry, load_registry
from .remote import fetch_url, is_url

_REPO_LIKE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


@dataclass(frozen=True)
class ResolvedEncoder:
    """A parsed ``config.json`` and the weights file it describes (possibly in different cache folders)."""

    config: dict[str, Any]
    config_path: Path
    weights: Path
    source: str


def resolve(
    name_or_path_or_url: str | Path, *, cache_dir: str | Path | None = None, registry: str | Path | None = None
) -> ResolvedEncoder:
    """Find, fetch (when remote) and verify (when downloaded) the encoder named by ``name_or_path_or_url``."""
    text = str(name_or_path_or_url)
    if text.startswith(HF_PREFIX):
        repo_id, revision = parse_hf_spec(text)
        return ResolvedEncoder(*fetch_hf(repo_id, revision=revision, cache_dir=cache_dir), source=text)
    if is_url(text):
        return ResolvedEncoder(*fetch_url(text, cache_dir=cache_dir), source=text)
    path = Path(text).expanduser()
    if isinstance(name_or_path_or_url, Path) or path.exists() or _looks_like_path(text):
        return _local(path, cache_dir=cache_dir)
    return _from_registry(find_entry(text, load_registry(registry)), cache_dir=cache_dir)


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith((".", "~")) or text.endswith((".json", ".safetensors"))


def _local(path: Path, *, cache_dir: str | Path | None) -> ResolvedEncoder:
    if not path.exists():
        hint = f" (for a Hugging Face Hub repository use '{HF_PREFIX}{path}')" if _REPO_LIKE.match(str(path)) else ""
        raise FileNotFoundError(f"{path}: no such file or folder{hint}")
    if path.is_file() and is_archive_name(path.name):
        folder = extract_export_archive(path, cache_dir=cache_dir)
    elif path.is_file() and path.name in (WEIGHTS_FILE, CONFIG_FILE):
        folder = path.parent
    elif path.is_dir():
        folder = path
    else:
        raise ExportFormatError(
            f"{path}: expected an export folder, its {CONFIG_FILE} or {WEIGHTS_FILE}, or a .tar/.tar.gz/.zip "
            "archive of one (a training checkpoint? export it with dynaflip-export)"
        )
    return ResolvedEncoder(read_config(folder), folder / CONFIG_FILE, folder / WEIGHTS_FILE, source=str(path))


def _from_registry(entry: RegistryEntry, *, cache_dir: str | Path | None) -> ResolvedEncoder:
    if not entry.available:
        raise WeightsNotAvailableError(
            f"'{entry.full_name}': no weights are published yet (status: {entry.status}). To use it now, train "
            f"it with `dynaflip-train --config {entry.recipe}` and load the export folder the run writes: "
            f"dynaflip.load('<run dir>/export') (or export a checkpoint with `dynaflip-export RUN_DIR OUT_DIR`)"
        )
    errors: list[HubError] = []
    for kind in WEIGHT_SOURCES:
        source = entry.sources.get(kind)
        if source is None:
            continue
        try:
            if kind == "path":
                fetched = _shipped(entry)
            elif kind == "hf_hub_id":
                revision = entry.sources.get("revision")
                fetched = fetch_hf(source, revision=revision, cache_dir=cache_dir, weights_sha256=entry.sha256)
            else:
                fetched = fetch_url(source, cache_dir=cache_dir, weights_sha256=entry.sha256)
        except HubError as error:  # a mirror may still work: try the next source
            errors.append(error)
            continue
        _check_consistent(entry, fetched[0])
        return ResolvedEncoder(*fetched, source=entry.full_name)
    if len(errors) == 1:
        raise errors[0]
    kind = OfflineError if all(isinstance(error, OfflineError) for error in errors) else DownloadError
    raise kind(f"'{entry.full_name}': no source could be used: " + "; ".join(str(error) for error in errors))


def _shipped(entry: RegistryEntry) -> tuple[dict[str, Any], Path, Path]:
    """An export folder shipped with the package (or beside the registry file), checked like a download."""
    folder = entry.local_folder
    assert folder is not None
    if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise DownloadError(f"'{entry.full_name}': sources.path: no {CONFIG_FILE} + {WEIGHTS_FILE} in {folder}")
    config = read_config(folder)
    actual = file_sha256(folder / WEIGHTS_FILE)
    if actual != entry.sha256:
        raise ChecksumError(
            f"'{entry.full_name}': {folder / WEIGHTS_FILE} has sha256 {actual}, the registry expects {entry.sha256}"
        )
    return config, folder / CONFIG_FILE, folder / WEIGHTS_FILE


def _check_consistent(entry: RegistryEntry, config: dict) -> None:
    """The downloaded config must describe what the registry documents (architecture, preprocessing)."""
    preprocess = config.get("preprocess", {})
    checks = [
        ("architecture.name", entry.architecture["name"], config.get("image_encoder", {}).get("name")),
        ("input_size", entry.input_size, preprocess.get("size")),
        ("mean", list(entry.mean), preprocess.get("mean")),
        ("std", list(entry.std), preprocess.get("std")),
    ]
    for field, expected, actual in checks:
        if not _same(expected, actual):
            raise HubError(
                f"'{entry.full_name}': the downloaded {CONFIG_FILE} disagrees with the registry on {field} "
                f"(registry {expected!r}, {CONFIG_FILE} {actual!r})"
            )


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return all(math.isclose(a, b, rel_tol=0, abs_tol=1e-6) for a, b in zip(expected, actual, strict=True))
    return expected == actual
