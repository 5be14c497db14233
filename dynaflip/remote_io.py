"""Shards and their indexes on object storage or HTTP, through fsspec: URLs, retries, streaming reads, uploads.

A path is *remote* when it carries a protocol (``s3://``, ``gs://``, ``https://``, any fsspec URL); plain
paths stay on the local disk and never touch fsspec. Credentials come only from where each backend looks
for them (the environment, ``~/.aws``, ``GOOGLE_APPLICATION_CREDENTIALS``, fsspec's config files and
``FSSPEC_<PROTOCOL>_<OPTION>`` variables such as ``FSSPEC_S3_ENDPOINT_URL``), never from a recipe, and no
URL or message here ever holds one.

Object stores and HTTP servers fail transiently (a reset connection, a 5xx, throttling): every call here is
retried with exponential backoff and each retry is counted; a read that breaks mid-stream reopens the object
and carries on at the byte it had reached, so the bytes (and so the batches) are the same as without the
error. A refused credential or a missing object is not retried: :class:`RemoteAccessError` says so in one line.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import DynaflipError

T = TypeVar("T")
_PROTOCOL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
_TRANSIENT_CODES = ("SlowDown", "Throttl", "RequestTimeout", "ServiceUnavailable", "InternalError", "TooManyRequests")
_REFUSED_CODES = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "Forbidden")
CREDENTIALS_HINT = (
    "credentials come from the environment or the backend's config files (AWS_ACCESS_KEY_ID/AWS_PROFILE/~/.aws, "
    "GOOGLE_APPLICATION_CREDENTIALS), never from the recipe"
)


class RemoteAccessError(DynaflipError, OSError):
    """A remote object that cannot be read or written: refused credentials, missing, or failing past retries."""


class RemoteUnavailable(RemoteAccessError):
    """Transient errors went on past the retries (the caller may skip the object and count it)."""


def is_remote(path: str) -> bool:
    """Whether ``path`` is an fsspec URL (``file://`` included) rather than a plain local path."""
    return bool(_PROTOCOL.match(str(path)))


def join(prefix: str, name: str) -> str:
    """``prefix/name`` for a URL or a local path."""
    return f"{str(prefix).rstrip('/')}/{name}"


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path inside it (a missing backend named with its package)."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as error:
        protocol = url.split("://", 1)[0]
        package = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}.get(protocol, "the fsspec backend for it")
        raise RemoteAccessError(f"{url}: reading {protocol}:// needs {package} (pip install {package})") from error


@dataclass
class RetryPolicy:
    """How often and how patiently a transient error is retried (attempts include the first)."""

    attempts: int = 6
    backoff: float = 0.2  # seconds before the first retry, doubled each time
    max_backoff: float = 10.0

    def delay(self, retry: int) -> float:
        return min(self.max_backoff, self.backoff * (2**retry))


DEFAULT_POLICY = RetryPolicy()


@dataclass
class ReadStats:
    """What one reader saw: transient errors retried, objects given up on."""

    retries: int = 0
    failed: int = 0


def classify(error: BaseException) -> str:
    """``refused`` (credentials), ``missing``, ``transient`` (worth a retry) or ``other``."""
    text = f"{type(error).__name__} {error}"
    status = getattr(error, "status", None) or getattr(error, "code", None)
    if isinstance(error, PermissionError) or any(code in text for code in _REFUSED_CODES) or status in (401, 403):
        return "refused"
    if isinstance(error, FileNotFoundError) or status == 404:
        # fsspec's HTTP info() turns any failure into FileNotFoundError: what caused it decides.
        cause = error.__cause__
        return classify(cause) if cause is not None and classify(cause) == "transient" else "missing"
    if isinstance(error, ConnectionError | TimeoutError) or status in _TRANSIENT_STATUS:
        return "transient"
    if any(code in text for code in _TRANSIENT_CODES) or re.search(r"\b(5\d\d|429)\b", text):
        return "transient"
    try:
        import aiohttp

        if isinstance(error, aiohttp.ClientError):
            return "transient"  # disconnected, payload cut short, connector errors
    except ImportError:
        pass
    if isinstance(error, OSError):
        return "transient"
    return "other"


def describe(url: str, error: BaseException) -> str:
    """One line for the user: the URL and what went wrong (never a credential: none is in either)."""
    kind = classify(error)
    first = (str(error).strip().splitlines() or [""])[0][:200]
    if kind == "refused":
        return f"{url}: access refused ({type(error).__name__}: {first}); {CREDENTIALS_HINT}"
    if kind == "missing":
        return f"{url}: does not exist"
    return f"{url}: {type(error).__name__}: {first}"


def with_retries(
    url: str, action: Callable[[], T], *, stats: ReadStats | None = None, policy: RetryPolicy = DEFAULT_POLICY
) -> T:
    """``action()``, retried with backoff on transient errors; anything else raised as one line."""
    for attempt in range(policy.attempts):
        try:
            return action()
        except Exception as error:
            kind = classify(error)
            if kind != "transient":
                raise RemoteAccessError(describe(url, error)) from error
            if attempt == policy.attempts - 1:
                raise RemoteUnavailable(
                    f"{describe(url, error)} (still failing after {policy.attempts} attempts)"
                ) from error
            if stats is not None:
                stats.retries += 1
            time.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")


def read_bytes(url: str, *, stats: ReadStats | None = None, policy: RetryPolicy = DEFAULT_POLICY) -> bytes:
    """The whole of a small object (an index such as sizes.json), with retries."""
    fs, path = filesystem(url)
    return with_retries(url, lambda: fs.cat_file(path), stats=stats, policy=policy)


def exists(url: str, *, policy: RetryPolicy = DEFAULT_POLICY) -> bool:
    """Whether the object is there (a transient failure is retried, never taken for "missing")."""
    fs, path = filesystem(url)
    try:
        with_retries(url, lambda: fs.info(path), policy=policy)
    except RemoteAccessError as error:
        if isinstance(error.__cause__, FileNotFoundError):
            return False
        raise
    return True


class RetryingReader(io.RawIOBase):
    """A forward-only stream of a remote object that survives transient errors: it reopens the object and
    continues at the byte it had reached (seeking where the backend can, reading past otherwise)."""

    def __init__(self, url: str, *, stats: ReadStats, policy: RetryPolicy = DEFAULT_POLICY) -> None:
        self.url = url
        self.stats = stats
        self.policy = policy
        self.fs, self.path = filesystem(url)
        self.position = 0
        self.handle: Any = None

    def _open(self) -> Any:
        # HTTP as a plain stream (a server need not support ranges); object stores in 8 MiB ranged reads.
        block = 0 if self.url.startswith(("http://", "https://")) else 8 << 20
        handle = self.fs.open(self.path, "rb", block_size=block)
        if self.position:
            try:
                handle.seek(self.position)
            except (ValueError, OSError, NotImplementedError):
                remaining = self.position
                while remaining:
                    chunk = handle.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise ConnectionError(
                            f"{self.url}: ended at byte {self.position - remaining} on reopening"
                        ) from None
                    remaining -= len(chunk)
        return handle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        def attempt() -> bytes:
            if self.handle is None:
                self.handle = self._open()
            try:
                return self.handle.read(len(buffer))
            except Exception:
                self._drop()
                raise

        data = with_retries(self.url, attempt, stats=self.stats, policy=self.policy)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def _drop(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            try:
                handle.close()
            except Exception:
                pass  # a broken connection may fail to close; it is discarded either way

    def close(self) -> None:
        self._drop()
        super().close()


def open_stream(url: str, *, stats: ReadStats, policy: RetryPolicy = DEFAULT_POLICY) -> io.BufferedReader:
    """A buffered, retrying, streaming reader of ``url`` (nothing is copied to disk)."""
    return io.BufferedReader(RetryingReader(url, stats=stats, policy=policy), buffer_size=1 << 20)


def upload(local: str, url: str, *, policy: RetryPolicy = DEFAULT_POLICY) -> None:
    """Copy a finished local file to ``url`` in one put (an object appears whole or not at all)."""
    fs, path = filesystem(url)
    with_retries(url, lambda: fs.put_file(local, path), policy=policy)


def write_bytes(url: str, data: bytes, *, policy: RetryPolicy = DEFAULT_POLICY) -> None:
    fs, path = filesystem(url)
    with_retries(url, lambda: fs.pipe_file(path, data), policy=policy)


def list_names(url: str, *, policy: RetryPolicy = DEFAULT_POLICY) -> list[str]:
    """The object names directly under prefix ``url`` (none when the prefix is empty or missing)."""
    fs, path = filesystem(url)

    def names() -> list[str]:
        fs.invalidate_cache(path)  # another task may have written since the last listing
        try:
            return sorted(entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=False))
        except FileNotFoundError:
            return []

    return with_retries(url, names, policy=policy)


def shard_urls(prefix: str) -> list[str]:
    """The shards a remote extraction prefix lists in its ``sizes.json``, in order."""
    import json

    sizes = json.loads(read_bytes(join(prefix, "sizes.json")))
    return [join(prefix, name) for name in sorted(sizes)]


def iter_tar_samples(urls: list[str], *, stats: ReadStats | None = None) -> Any:
    """webdataset samples (members grouped by key, ``__url__`` set) of local or remote shards, streamed in order."""
    from webdataset.tariterators import group_by_keys, tar_file_expander

    stats = stats if stats is not None else ReadStats()
    for url in urls:
        stream = open_stream(url, stats=stats) if is_remote(url) else open(url, "rb")
        with stream:
            yield from group_by_keys(tar_file_expander(iter([{"url": url, "stream": stream}])))
