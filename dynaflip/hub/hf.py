"""Export folders on the Hugging Face Hub: ``hf-hub:org/repo`` or ``hf-hub:org/repo@revision``.

Files come through ``huggingface_hub.hf_hub_download``, so its cache (``$HF_HUB_CACHE``, or
``<cache_dir>/huggingface`` when a cache folder is given) and its offline mode are honoured; the weights
are checked against the ``weights_sha256`` of the repository's ``config.json``.
"""

from __future__ import annotations

import re
from pathlib import Path

from dynaflip import __version__

from .cache import cache_root, is_offline, offline_variable
from .errors import ChecksumError, DownloadError, OfflineError
from .format import CONFIG_FILE, WEIGHTS_FILE, read_config
from .verify import expected_weights_sha256, verify_weights

HF_PREFIX = "hf-hub:"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def parse_hf_spec(spec: str) -> tuple[str, str | None]:
    """``hf-hub:org/repo[@revision]`` -> (repo id, revision or None)."""
    body = spec.removeprefix(HF_PREFIX)
    repo_id, _, revision = body.partition("@")
    if not _REPO_ID.match(repo_id):
        raise ValueError(f"{spec}: expected hf-hub:org/repo or hf-hub:org/repo@revision")
    return repo_id, revision or None


def hf_cache_dir(cache_dir: str | Path | None) -> Path | None:
    return cache_root(cache_dir) / "huggingface" if cache_dir is not None else None


def fetch_hf(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    weights_sha256: str | None = None,
) -> tuple[dict, Path, Path]:
    """(config, config path, verified weights path) of the export in ``repo_id``.

    ``weights_sha256``: the checksum the caller expects (from the registry); the config must agree.
    """
    spec = f"{HF_PREFIX}{repo_id}" + (f"@{revision}" if revision else "")
    config_path = _download(spec, repo_id, CONFIG_FILE, revision=revision, cache_dir=cache_dir)
    config = read_config(config_path.parent)
    sha = expected_weights_sha256(config, where=f"{spec}/{CONFIG_FILE}")
    if weights_sha256 is not None and sha != weights_sha256:
        raise ChecksumError(
            f"{spec}: {CONFIG_FILE} names weights with sha256 {sha}, but the registry expects {weights_sha256}"
        )
    weights = _download(spec, repo_id, WEIGHTS_FILE, revision=revision, cache_dir=cache_dir)
    verify_weights(weights, sha, source=spec)
    return config, config_path, weights


def _download(spec: str, repo_id: str, filename: str, *, revision: str | None, cache_dir: str | Path | None) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cache = hf_cache_dir(cache_dir)
    try:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                cache_dir=cache,
                local_files_only=is_offline(),
                library_name="dynaflip",
                library_version=__version__,
            )
        )
    except LocalEntryNotFoundError:
        where = cache or "the Hugging Face cache ($HF_HUB_CACHE)"
        if is_offline():
            raise OfflineError(
                f"{spec}: {filename} is not in {where} and offline mode is on ({offline_variable()}=1); "
                "unset it to download, or load a local export folder"
            ) from None
        raise DownloadError(f"{spec}: cannot reach the Hugging Face Hub and {filename} is not in {where}") from None
    except RepositoryNotFoundError:
        raise DownloadError(f"{spec}: repository not found (or private: log in with `hf auth login`)") from None
    except RevisionNotFoundError:
        raise DownloadError(f"{spec}: revision '{revision}' not found") from None
    except EntryNotFoundError:
        raise DownloadError(f"{spec}: the repository has no {filename} (not a dynaflip export)") from None
    except (HfHubHTTPError, OSError) as error:
        raise DownloadError(f"{spec}: {filename}: {str(error).splitlines()[0]}") from None
