"""Cached, verified, resumable, process-safe HTTP downloads (standard library only).

A file is written to ``<final>.partial``, checked against its sha256 when one is known, then renamed to
its final cache path (see :mod:`dynaflip.hub.cache`), so a file in the cache is always complete. An
interrupted transfer keeps its ``.partial``; the next call resumes it with ``Range: bytes=<n>-``. A lock
on ``<final>.lock`` makes a second process wait and then use the first one's file.
"""

from __future__ import annotations

import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from dynaflip import __version__

from .cache import is_offline, offline_variable, url_cache_path
from .checksum import file_sha256, normalise_sha256, split_sha256_fragment
from .errors import ChecksumError, DownloadError, OfflineError
from .lock import file_lock

DEFAULT_TIMEOUT = 30.0  # seconds without progress on a socket operation, not for the whole transfer
CHUNK_SIZE = 1 << 20
USER_AGENT = f"dynaflip/{__version__}"
_CONTENT_RANGE = re.compile(r"^bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$")


def download(
    url: str,
    *,
    sha256: str | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    filename: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """The cached path of ``url``, downloading it first if needed.

    ``sha256`` (or a ``#sha256=<hex>`` URL fragment) pins the content: a mismatch raises
    :class:`ChecksumError` and nothing is cached. Raises :class:`OfflineError` when offline mode is on and
    the file is not cached, :class:`DownloadError` for HTTP and connection failures.
    """
    url, fragment_sha = split_sha256_fragment(url)
    sha256 = normalise_sha256(sha256, what="sha256") or fragment_sha
    if fragment_sha is not None and sha256 != fragment_sha:
        raise ValueError(f"{url}: the sha256 argument and the URL's #sha256 fragment differ")
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{url}: expected an http:// or https:// URL")
    final = url_cache_path(url, sha256=sha256, filename=filename, cache_dir=cache_dir)
    if final.is_file():
        return final
    if is_offline():
        raise OfflineError(
            f"{url}: not in the cache ({final}) and offline mode is on ({offline_variable()}=1); "
            "unset it to download, or copy the file there"
        )
    with file_lock(final.with_name(final.name + ".lock")):
        if final.is_file():  # another process finished it while this one waited for the lock
            return final
        partial = final.with_name(final.name + ".partial")
        resumed = _fetch(url, partial, progress=progress, timeout=timeout)
        if sha256 is not None:
            actual = file_sha256(partial)
            if actual != sha256 and resumed:
                # The kept prefix may come from an older file at this URL: one fresh transfer before failing.
                partial.unlink()
                _fetch(url, partial, progress=progress, timeout=timeout)
                actual = file_sha256(partial)
            if actual != sha256:
                partial.unlink(missing_ok=True)
                raise ChecksumError(
                    f"{url}: checksum mismatch: expected sha256 {sha256}, got {actual}; the file was deleted "
                    "(corrupted in transit, or the file at this URL changed)"
                )
        os.replace(partial, final)
    return final


def _fetch(url: str, partial: Path, *, progress: bool, timeout: float) -> bool:
    """Download ``url`` into ``partial``, resuming what is there; whether a kept prefix was reused."""
    offset = partial.stat().st_size if partial.is_file() else 0
    for _ in range(2):  # a second round only after discarding a partial file the server would not resume
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as error:
            with error:
                if error.code == 416 and offset:
                    if _content_range(error.headers.get("Content-Range"))[2] == offset:
                        return True  # the partial file is already whole: only the rename was missing
                    partial.unlink()
                    offset = 0
                    continue
                raise DownloadError(f"{url}: HTTP {error.code} {_reason(error.code, error.reason)}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            raise DownloadError(f"{url}: cannot connect ({reason})") from None
        with response:
            status = response.status
            if offset and status == 206 and _content_range(response.headers.get("Content-Range"))[0] != offset:
                partial.unlink()  # a range other than the one asked for: start over
                offset = 0
                continue
            if offset and status != 206:
                offset = 0  # the server ignored Range and sends the whole file
            _copy(response, url, partial, offset=offset, progress=progress)
            return offset > 0
    raise DownloadError(f"{url}: the server did not honour the resume request twice; delete {partial} and retry")


def _copy(response: http.client.HTTPResponse, url: str, partial: Path, *, offset: int, progress: bool) -> None:
    from tqdm import tqdm

    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    received = 0
    mode = "ab" if offset else "wb"
    with (
        open(partial, mode) as out,
        tqdm(
            total=offset + expected if expected is not None else None,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=partial.name.removesuffix(".partial"),
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        while True:
            try:
                chunk = response.read(CHUNK_SIZE)
            except (OSError, http.client.HTTPException) as error:
                raise _interrupted(url, partial, offset + received, expected and offset + expected, error) from None
            if not chunk:
                break
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    if expected is not None and received < expected:
        # http.client returns b"" (no exception) when the peer closes early, so the length is checked here.
        raise _interrupted(url, partial, offset + received, offset + expected, "connection closed")


def _interrupted(url: str, partial: Path, have: int, total: int | None, cause: object) -> DownloadError:
    of = f" of {total}" if total else ""
    return DownloadError(
        f"{url}: transfer interrupted after {have}{of} bytes ({cause}); the partial file {partial} is kept "
        "and the next call resumes it"
    )


def _content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """(first byte, last byte, total) of a Content-Range header; None where absent or '*'."""
    match = _CONTENT_RANGE.match((value or "").strip())
    if not match:
        return None, None, None
    first, last, total = (int(text) if text and text.isdigit() else None for text in match.groups())
    return first, last, total


def _reason(code: int, reason: object) -> str:
    text = str(reason or "").strip() or http.client.responses.get(code, "error")
    return "Not Found (check the URL)" if code == 404 else text
