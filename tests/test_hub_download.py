"""download(): cache layout, resume edge cases (200 instead of 206, 416), errors, against a real local server."""

import hashlib

import pytest

from dynaflip.hub.checksum import file_sha256
from dynaflip.hub.download import download
from dynaflip.hub.errors import ChecksumError, DownloadError, OfflineError
from tests.helpers.distributed import free_port
from tests.helpers.hub_checkpoint import isolate_hub_env
from tests.helpers.hub_server import Faults, HubServer

PAYLOAD = bytes(range(256)) * 1000  # 256 kB: several chunks


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path):
    return isolate_hub_env(monkeypatch, tmp_path / "cache")


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "blob.bin").write_bytes(PAYLOAD)
    with HubServer(root, Faults(target="blob.bin")) as server:
        yield server


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_files_are_cached_under_dynaflip_cache_by_url_and_checksum(server, cache):
    url = f"{server.url}/blob.bin"
    path = download(url, sha256=SHA.upper(), progress=False)
    assert path.read_bytes() == PAYLOAD
    assert path.is_relative_to(cache / "downloads" / f"127.0.0.1_{url.split(':')[-1].split('/')[0]}")
    url_key = hashlib.sha256(url.encode()).hexdigest()[:16]
    assert path.parent.name == f"{url_key}-{SHA[:16]}" and path.name == "blob.bin"
    assert download(f"{url}#sha256={SHA}", progress=False) == path
    assert len(server.requests) == 1
    # Without a checksum the path is keyed by the URL alone; filename= renames the cached file.
    other = download(url, filename="weights.bin", progress=False)
    assert other.parent.name == url_key and other.name == "weights.bin"


def test_a_server_that_ignores_range_restarts_the_transfer(server):
    url = f"{server.url}/blob.bin"
    server.faults.drop_after = 100_000
    with pytest.raises(DownloadError, match="interrupted after 100000 of 256000 bytes"):
        download(url, sha256=SHA, progress=False)
    server.faults = Faults(target="blob.bin", honour_range=False)
    path = download(url, sha256=SHA, progress=False)
    assert server.ranges("blob.bin") == [None, "bytes=100000-"]
    assert server.full_bodies["blob.bin"] == 1  # the 200 answer to the Range request
    assert file_sha256(path) == SHA


def test_a_whole_partial_file_answered_416_is_completed(server, cache):
    url = f"{server.url}/blob.bin"
    server.faults.drop_after = 0  # creates the partial file, then it is filled by hand
    with pytest.raises(DownloadError):
        download(url, sha256=SHA, progress=False)
    (partial,) = cache.rglob("*.partial")
    partial.write_bytes(PAYLOAD)
    server.faults.drop_after = None
    path = download(url, sha256=SHA, progress=False)
    assert server.ranges("blob.bin")[-1] == f"bytes={len(PAYLOAD)}-"
    assert path.read_bytes() == PAYLOAD and not partial.exists()


def test_a_stale_partial_that_fails_verification_is_downloaded_again(server, cache):
    url = f"{server.url}/blob.bin"
    server.faults.drop_after = 0
    with pytest.raises(DownloadError):
        download(url, sha256=SHA, progress=False)
    (partial,) = cache.rglob("*.partial")
    partial.write_bytes(b"x" * 1000)  # a prefix of some older file at this URL
    server.faults.drop_after = None
    assert download(url, sha256=SHA, progress=False).read_bytes() == PAYLOAD
    assert server.ranges("blob.bin")[-2:] == ["bytes=1000-", None]


def test_checksum_errors_name_the_url_and_both_hashes(server, cache):
    url = f"{server.url}/blob.bin"
    with pytest.raises(ChecksumError) as error:
        download(url, sha256="0" * 64, progress=False)
    assert url in str(error.value) and "0" * 64 in str(error.value) and SHA in str(error.value)
    assert [p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")] == []


def test_connection_errors_and_bad_arguments_are_clear(cache):
    url = f"http://127.0.0.1:{free_port()}/blob.bin"  # nothing listens there
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1:\d+/blob\.bin: cannot connect"):
        download(url, progress=False)
    with pytest.raises(ValueError, match="expected 64 hexadecimal characters"):
        download(url, sha256="abc")
    with pytest.raises(ValueError, match="only #sha256=<hex>"):
        download(f"{url}#md5=abc")
    with pytest.raises(ValueError, match="http:// or https://"):
        download("ftp://example.org/file")


def test_offline_mode_raises_when_the_file_is_not_cached(server, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"offline mode is on \(HF_HUB_OFFLINE=1\)"):
        download(f"{server.url}/blob.bin", progress=False)
    assert server.requests == []


def test_the_progress_bar_reports_bytes(server, capsys):
    download(f"{server.url}/blob.bin", progress=True)
    assert "blob.bin" in capsys.readouterr().err
