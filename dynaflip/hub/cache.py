"""Where the hub keeps files, and whether it may use the network.

Cache root: the ``cache_dir`` argument, else ``$DYNAFLIP_CACHE``, else ``~/.cache/dynaflip``. Inside it:

- ``downloads/<host>/<url key>/<file name>``: one folder per URL (the key is the first 16 hex digits of the
  URL's sha256, plus ``-<first 16 of the file's sha256>`` when the checksum is known in advance); next to a
  file, ``<name>.partial`` while it downloads and ``<name>.lock`` (the inter-process lock, left in place);
- ``archives/<archive sha256>/``: extracted export archives, with the export folder at the top;
- ``huggingface/``: the Hugging Face cache, only when ``cache_dir`` is given (otherwise the Hugging Face
  default, ``$HF_HUB_CACHE``, is used so that files are shared with other libraries).

Offline mode (``DYNAFLIP_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``): nothing is fetched; cached files still load.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

CACHE_ENV = "DYNAFLIP_CACHE"
DEFAULT_CACHE = Path("~/.cache/dynaflip")
OFFLINE_ENVS = ("DYNAFLIP_OFFLINE", "HF_HUB_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def cache_root(cache_dir: str | Path | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def offline_variable() -> str | None:
    """The environment variable that switches offline mode on, or None when online."""
    for name in OFFLINE_ENVS:
        if os.environ.get(name, "").strip().lower() in _TRUE:
            return name
    return None


def is_offline() -> bool:
    # Read at call time (not import time, as huggingface_hub does) so a process can switch it.
    return offline_variable() is not None


def url_cache_path(
    url: str, *, sha256: str | None = None, filename: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """The cache path of ``url`` (without fragment); ``filename`` overrides the URL's last path segment."""
    parts = urlsplit(url)
    name = filename or Path(unquote(parts.path)).name or "download"
    if name != Path(name).name or name in (".", ".."):
        raise ValueError(f"filename: expected a plain file name, got {name!r}")
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    if sha256:
        key = f"{key}-{sha256[:16]}"
    host = _UNSAFE.sub("_", parts.netloc) or "local"
    return cache_root(cache_dir) / "downloads" / host / key / name
