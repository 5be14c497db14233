"""dynaflip.load from every kind of source, against a real HTTP server on 127.0.0.1 that can misbehave."""

import shutil
import subprocess
import sys
import tarfile
import warnings
import zipfile

import pytest
import torch

import dynaflip
from dynaflip.hub.cache import url_cache_path
from dynaflip.hub.checksum import file_sha256
from dynaflip.hub.errors import ChecksumError, DownloadError, OfflineError, UnverifiedDownloadWarning
from dynaflip.hub.format import load_encoder
from dynaflip.models import ImageEncoder, Preprocess
from tests.helpers.hub_checkpoint import REPO, features, fixed_images, isolate_hub_env, make_export, subprocess_env
from tests.helpers.hub_server import HubServer


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path):
    return isolate_hub_env(monkeypatch, tmp_path / "cache")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The server root: an export folder ``export/`` and archives of it."""
    root = tmp_path_factory.mktemp("served")
    folder = make_export(root / "export")
    with tarfile.open(root / "export.tar.gz", "w:gz") as bundle:
        bundle.add(folder, arcname="export")
    with zipfile.ZipFile(root / "export.zip", "w") as bundle:
        for name in ("config.json", "model.safetensors"):
            bundle.write(folder / name, arcname=name)
    return root


@pytest.fixture
def server(served):
    with HubServer(served) as server:
        yield server


@pytest.fixture(scope="module")
def reference(served):
    encoder, _, _ = load_encoder(served / "export")
    return features(encoder)


def weights_cache_path(server, cache):
    sha = file_sha256(server.root / "export" / "model.safetensors")
    return url_cache_path(f"{server.url}/export/model.safetensors", sha256=sha, cache_dir=cache)


def test_loading_a_folder_url_equals_loading_the_folder(server, cache, reference):
    encoder, preprocess = dynaflip.load(f"{server.url}/export")
    assert isinstance(encoder, ImageEncoder) and isinstance(preprocess, Preprocess)
    assert torch.equal(features(encoder), reference)
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    tokens = encoder.forward_features(fixed_images())
    assert tokens.shape == (2, 1 + 16, 48)
    assert len(encoder.intermediate_features(fixed_images(), last_n=2)) == 2
    assert preprocess.size == 32 and preprocess(torch.zeros(1, 3, 48, 64, dtype=torch.uint8)).shape == (1, 3, 32, 32)
    assert weights_cache_path(server, cache).is_file()
    # A second load comes from the cache: no request reaches the server.
    before = len(server.requests)
    trainable, _ = dynaflip.load(f"{server.url}/export/", freeze=False)
    assert len(server.requests) == before
    assert all(p.requires_grad for p in trainable.parameters()) and not trainable.training


def test_an_interrupted_download_resumes_with_a_range_request(server, cache, reference):
    size = (server.root / "export" / "model.safetensors").stat().st_size
    server.faults.drop_after = size // 2
    with pytest.raises(DownloadError, match=r"interrupted after \d+ of \d+ bytes.*next call resumes"):
        dynaflip.load(f"{server.url}/export")
    final = weights_cache_path(server, cache)
    partial = final.with_name(final.name + ".partial")
    assert not final.exists() and partial.stat().st_size == size // 2

    server.faults.drop_after = None
    encoder, _ = dynaflip.load(f"{server.url}/export")
    assert server.ranges("model.safetensors") == [None, f"bytes={size // 2}-"]
    assert file_sha256(final) == file_sha256(server.root / "export" / "model.safetensors")
    assert not partial.exists()
    assert torch.equal(features(encoder), reference)


def test_corrupted_bytes_raise_a_checksum_error_and_leave_the_cache_clean(server, cache):
    server.faults.corrupt = True
    url = f"{server.url}/export"
    with pytest.raises(
        ChecksumError, match=r"model\.safetensors: checksum mismatch: expected sha256 [0-9a-f]{64}, got"
    ):
        dynaflip.load(url)
    final = weights_cache_path(server, cache)
    assert not final.exists() and not final.with_name(final.name + ".partial").exists()
    assert not list(cache.rglob("*.safetensors*partial"))


def test_a_missing_url_names_the_url_and_the_status(server):
    with pytest.raises(DownloadError, match=r"/nowhere/config\.json: HTTP 404"):
        dynaflip.load(f"{server.url}/nowhere")
    server.faults.status = 500
    with pytest.raises(DownloadError, match=r"/export/model\.safetensors: HTTP 500"):
        dynaflip.load(f"{server.url}/export")


def test_offline_mode_uses_the_cache_and_refuses_to_download(server, monkeypatch, reference):
    monkeypatch.setenv("DYNAFLIP_OFFLINE", "1")
    with pytest.raises(
        OfflineError, match=r"config\.json: not in the cache .* offline mode is on \(DYNAFLIP_OFFLINE=1\)"
    ):
        dynaflip.load(f"{server.url}/export")
    assert server.requests == []
    monkeypatch.delenv("DYNAFLIP_OFFLINE")
    dynaflip.load(f"{server.url}/export")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests = len(server.requests)
    encoder, _ = dynaflip.load(f"{server.url}/export")
    assert len(server.requests) == requests
    assert torch.equal(features(encoder), reference)


def test_two_processes_loading_one_url_download_the_weights_once(server, cache, tmp_path, reference):
    server.faults.chunk_delay = 0.05  # keep the first transfer open while the second process arrives
    torch.save(fixed_images(), tmp_path / "images.pt")
    script = (
        "import sys, torch, dynaflip\n"
        "from dynaflip.hub import loader\n"  # everything heavy is imported before the start signal
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "encoder, _ = dynaflip.load(sys.argv[1], cache_dir=sys.argv[2])\n"
        "with torch.no_grad():\n"
        "    torch.save(encoder(torch.load(sys.argv[3])), sys.argv[4])\n"
    )
    url = f"{server.url}/export"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, str(cache), str(tmp_path / "images.pt"), str(tmp_path / f"{i}.pt")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
            cwd=REPO,
        )
        for i in range(2)
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr[-3000:]
    for i in range(2):
        torch.testing.assert_close(torch.load(tmp_path / f"{i}.pt"), reference)
    assert server.full_bodies["export/model.safetensors"] == 1
    assert len(server.ranges("model.safetensors")) == 1
    cached = list(cache.rglob("model.safetensors*"))
    assert sorted(p.name for p in cached) == ["model.safetensors", "model.safetensors.lock"]


def test_local_archives_are_extracted_once_into_the_cache(served, cache, reference):
    for name in ("export.tar.gz", "export.zip"):
        encoder, _ = dynaflip.load(served / name)
        assert torch.equal(features(encoder), reference)
    archives = cache / "archives"
    assert sorted(p.name for p in archives.iterdir() if p.is_dir()) == sorted(
        file_sha256(served / name) for name in ("export.tar.gz", "export.zip")
    )
    dynaflip.load(str(served / "export.tar.gz"))  # already extracted: reused
    assert len([p for p in archives.iterdir() if p.is_dir()]) == 2


def test_a_weights_file_path_loads_its_folder(served, reference):
    encoder, _ = dynaflip.load(served / "export" / "model.safetensors")
    assert torch.equal(features(encoder), reference)
    with pytest.raises(FileNotFoundError, match="use 'hf-hub:org/encoder'"):
        dynaflip.load("org/encoder")


def test_archive_urls_are_pinned_by_a_sha256_fragment(server, served, reference):
    sha = file_sha256(served / "export.tar.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder, _ = dynaflip.load(f"{server.url}/export.tar.gz#sha256={sha}")
    assert torch.equal(features(encoder), reference)
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        dynaflip.load(f"{server.url}/export.zip#sha256={'0' * 64}")
    with pytest.warns(UnverifiedDownloadWarning, match="not verified"):
        encoder, _ = dynaflip.load(f"{server.url}/export.zip")
    assert torch.equal(features(encoder), reference)


def test_an_archive_whose_weights_disagree_with_its_config_is_refused(tmp_path, served, cache):
    folder = tmp_path / "bad"
    shutil.copytree(served / "export", folder)
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(data))
    with tarfile.open(tmp_path / "bad.tar", "w") as bundle:
        bundle.add(folder, arcname="bad")
    with pytest.raises(ChecksumError, match=r"config\.json says"):
        dynaflip.load(tmp_path / "bad.tar")
    assert [p for p in (cache / "archives").iterdir() if p.is_dir()] == []


def test_a_local_export_with_corrupted_weight_bytes_is_refused_not_loaded(tmp_path, served, reference):
    folder = tmp_path / "export"
    shutil.copytree(served / "export", folder)
    encoder, _ = dynaflip.load(folder)  # intact: loads (and is checked once)
    assert torch.equal(features(encoder), reference)
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF  # a tensor byte: safetensors still parses the file, the weights are simply wrong
    (folder / "model.safetensors").write_bytes(bytes(data))
    for source in (folder, folder / "config.json", folder / "model.safetensors"):
        with pytest.raises(ChecksumError, match=r"model\.safetensors has sha256 [0-9a-f]{64}, but config\.json says"):
            dynaflip.load(source)


def test_hf_hub_ids_use_the_hugging_face_cache_and_its_offline_mode(served, cache, monkeypatch, reference):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"hf-hub:dynaflip/tiny: config\.json is not in .* offline mode is on"):
        dynaflip.load("hf-hub:dynaflip/tiny", cache_dir=cache)
    # The layout hf_hub_download writes: refs/<revision> -> commit, snapshots/<commit>/<files>.
    repo = cache / "huggingface" / "models--dynaflip--tiny"
    commit = "a" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(served / "export", repo / "snapshots" / commit)
    encoder, _ = dynaflip.load("hf-hub:dynaflip/tiny", cache_dir=cache)
    assert torch.equal(features(encoder), reference)
    encoder, _ = dynaflip.load(f"hf-hub:dynaflip/tiny@{commit}", cache_dir=cache)
    with pytest.raises(OfflineError, match=r"@v2: config\.json is not in"):
        dynaflip.load("hf-hub:dynaflip/tiny@v2", cache_dir=cache)


def test_importing_dynaflip_does_not_import_torch():
    code = "import sys, dynaflip; assert 'torch' not in sys.modules; print(list(dynaflip.list_pretrained()))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), cwd=REPO, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "dynaflip-vitb14-dinov2@paper" in result.stdout
    assert callable(dynaflip.load) and "load" in dir(dynaflip)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = dynaflip.nope
