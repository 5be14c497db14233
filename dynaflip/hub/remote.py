"""Export folders and archives behind an http(s) URL.

- ``https://host/path/to/export`` (a folder): GET ``<url>/config.json``, then ``<url>/model.safetensors``
  verified against the config's ``weights_sha256``. A URL is treated as immutable: once cached, the
  config is not fetched again (publish a new version under a new URL).
- ``https://host/encoder.tar.gz#sha256=<hex>`` (``.tar``, ``.tar.gz``, ``.tgz``, ``.zip``): the fragment
  pins the archive's checksum; without one a warning says the archive itself is unverified (the
  weights inside are still checked against its config.json).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from urllib.parse import urlsplit

from .archive import extract_export_archive, is_archive_name
from .checksum import split_sha256_fragment
from .download import download
from .errors import ChecksumError, UnverifiedDownloadWarning
from .format import CONFIG_FILE, WEIGHTS_FILE, ExportFormatError, read_config
from .verify import expected_weights_sha256


def is_url(text: str) -> bool:
    return urlsplit(text).scheme in ("http", "https")


def fetch_url(
    url: str, *, cache_dir: str | Path | None = None, weights_sha256: str | None = None
) -> tuple[dict, Path, Path]:
    """(config, config path, verified weights path) of the export at ``url``.

    ``weights_sha256``: the checksum the caller expects (from the registry); the config must agree.
    """
    base, archive_sha = split_sha256_fragment(url)
    if is_archive_name(urlsplit(base).path):
        if archive_sha is None:
            warnings.warn(
                f"{base}: no #sha256=<hex> fragment, so the archive is not verified (its weights are still "
                "checked against the config.json inside); append #sha256=<archive sha256> to pin it",
                UnverifiedDownloadWarning,
                stacklevel=3,
            )
        archive = download(base, sha256=archive_sha, cache_dir=cache_dir)
        folder = extract_export_archive(archive, cache_dir=cache_dir, sha256=archive_sha)
        config = read_config(folder)
        _check_expected(config, weights_sha256, source=url)
        return config, folder / CONFIG_FILE, folder / WEIGHTS_FILE
    folder_url = base.rstrip("/")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        folder_url = folder_url.removesuffix(f"/{name}")
    config_path = download(f"{folder_url}/{CONFIG_FILE}", cache_dir=cache_dir, progress=False)
    try:
        config = read_config(config_path.parent)
    except ExportFormatError:
        config_path.unlink(missing_ok=True)  # no checksum guards the config: never keep a bad one cached
        raise
    sha = _check_expected(config, weights_sha256, source=folder_url)
    weights = download(f"{folder_url}/{WEIGHTS_FILE}", sha256=sha, cache_dir=cache_dir)
    return config, config_path, weights


def _check_expected(config: dict, expected: str | None, *, source: str) -> str:
    sha = expected_weights_sha256(config, where=f"{source}: {CONFIG_FILE}")
    if expected is not None and sha != expected:
        raise ChecksumError(
            f"{source}: {CONFIG_FILE} names weights with sha256 {sha}, but the registry expects {expected}"
        )
    return sha
