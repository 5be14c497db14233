"""sha256 helpers without heavy imports (the download path must not need torch)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urldefrag

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
FRAGMENT_KEY = "sha256="


def file_sha256(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and bool(_HEX64.match(value))


def normalise_sha256(value: str | None, *, what: str = "sha256") -> str | None:
    """Lower-case hex digest, or None; anything else is a ValueError naming ``what``."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if not is_sha256(lowered):
        raise ValueError(f"{what}: expected 64 hexadecimal characters, got {value!r}")
    return lowered


def split_sha256_fragment(url: str) -> tuple[str, str | None]:
    """``https://host/file.tar.gz#sha256=<hex>`` -> (URL without fragment, hex digest or None)."""
    base, fragment = urldefrag(url)
    if not fragment:
        return base, None
    if not fragment.startswith(FRAGMENT_KEY):
        raise ValueError(f"{url}: unsupported URL fragment '#{fragment}' (only #sha256=<hex> pins a checksum)")
    return base, normalise_sha256(fragment[len(FRAGMENT_KEY) :], what=f"{url}: #sha256 fragment")
