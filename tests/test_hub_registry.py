"""The registry: packaged entries, names and tags, clear errors, validation, and loading an available entry."""

import shutil

import pytest
import timm
import torch
import yaml

import dynaflip
from dynaflip.hub.checksum import file_sha256
from dynaflip.hub.errors import ChecksumError, HubError, RegistryError, UnknownModelError, WeightsNotAvailableError
from dynaflip.hub.registry import default_registry_path, find_entry, load_registry
from dynaflip.models import ImageEncoder, ImageEncoderConfig
from tests.helpers.hub_checkpoint import features, isolate_hub_env, make_export
from tests.helpers.hub_server import HubServer


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path):
    return isolate_hub_env(monkeypatch, tmp_path / "cache")


def entry(**overrides):
    base = {
        "name": "tiny-test",
        "tag": "v1",
        "status": "not yet trained",
        "architecture": {"name": "vit_tiny_patch16_224", "img_size": 32},
        "input_size": 32,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "license": "apache-2.0",
        "recipe": "configs/train/tiny-cpu.yaml",
        "data": "nothing",
    }
    return {**base, **overrides}


def write_registry(path, *entries):
    path.write_text(yaml.safe_dump({"format_version": 1, "encoders": list(entries)}))
    return path


def test_list_pretrained_lists_the_packaged_entries_with_their_status():
    listed = dynaflip.list_pretrained()
    assert listed["dynaflip-vitb14-dinov2@paper"] == "not yet trained"
    assert listed["dynaflip-tiny-metaworld@study-cpu"] == "available"


def test_packaged_entries_document_the_normalisation_the_exporter_writes():
    for item in load_registry():
        assert timm.is_model(item.architecture["name"]), item.full_name
        pretrained = timm.get_pretrained_cfg(item.architecture["name"])
        assert (item.mean, item.std) == (tuple(pretrained.mean), tuple(pretrained.std)), item.full_name
    tiny = find_entry("dynaflip-tiny-metaworld", load_registry())
    encoder = ImageEncoder(ImageEncoderConfig(**tiny.architecture))
    assert encoder.data_config["input_size"] == (3, tiny.input_size, tiny.input_size)
    assert (tuple(encoder.data_config["mean"]), tuple(encoder.data_config["std"])) == (tiny.mean, tiny.std)


def test_unknown_names_suggest_the_closest_ones():
    with pytest.raises(UnknownModelError, match="did you mean dynaflip-vitb14-dinov2"):
        dynaflip.load("dynaflip-vitb14-dino")
    with pytest.raises(UnknownModelError, match=r"has no tag 'v9' \(tags: paper\)"):
        dynaflip.load("dynaflip-vitb14-dinov2@v9")


def test_entries_without_weights_say_so_and_what_to_do_instead(tmp_path):
    with pytest.raises(WeightsNotAvailableError) as error:
        dynaflip.load("dynaflip-vitb14-dinov2")
    message = str(error.value)
    assert "not yet trained" in message and "dynaflip-train --config configs/train/vitb14-dinov2.yaml" in message
    assert "export" in message
    unpublished = write_registry(tmp_path / "registry.yaml", entry(status="not yet published"))
    with pytest.raises(WeightsNotAvailableError, match="not yet published"):
        dynaflip.load("tiny-test@v1", registry=unpublished)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mean": [0.5, 0.5]}, r"entry 0 \('tiny-test'\): 'mean': expected 3 items"),
        ({"mean": [0.5, "x", 0.5]}, r"'mean\[1\]': expected a number"),
        ({"std": [0.5, 0.0, 0.5]}, r"'std': expected 3 positive numbers"),
        ({"status": "done"}, r"'status': expected one of \['available'"),
        ({"name": "Tiny"}, r"'name': expected lower-case letters"),
        ({"architecture": {"name": "vit_tiny_patch16_224", "img_size": "big"}}, "'architecture.img_size'"),
        ({"architecture": {"name": "x", "img_size": 32, "depth": 2}}, "unknown config key 'architecture.depth'"),
        ({"input_size": 64}, "'input_size': expected architecture.img_size"),
        ({"licence": "mit"}, r"unknown config key 'licence' \(did you mean license\?\)"),
        ({"recipe": " "}, "'recipe': expected a non-empty string"),
        ({"sha256": "xyz"}, "'sha256': expected 64 lower-case hexadecimal"),
        ({"status": "available"}, "'sha256': expected the weights' checksum"),
        ({"status": "available", "sha256": "a" * 64}, "'sources': expected a path, hf_hub_id or url"),
        ({"sources": {"url": "ftp://x"}}, "'sources.url': expected an http"),
        ({"sources": {"mirror": "x"}}, "unknown config key 'sources.mirror'"),
        ({"base_dir": "/elsewhere"}, "unknown field 'base_dir'"),
    ],
)
def test_the_validator_names_the_file_entry_and_field(tmp_path, overrides, message):
    path = write_registry(tmp_path / "registry.yaml", entry(**overrides))
    with pytest.raises(RegistryError, match=message) as error:
        load_registry(path)
    assert str(path) in str(error.value)


def test_null_sources_and_notes_read_as_none(tmp_path):
    (item,) = load_registry(write_registry(tmp_path / "registry.yaml", entry(sources=None, notes=None)))
    assert item.sources == {} and item.notes == "" and item.local_folder is None


def test_duplicate_and_missing_fields_are_rejected(tmp_path):
    path = write_registry(tmp_path / "registry.yaml", entry(), entry())
    with pytest.raises(RegistryError, match=r"entry 1 \('tiny-test@v1'\): duplicate"):
        load_registry(path)
    broken = entry()
    del broken["recipe"]
    with pytest.raises(RegistryError, match="missing config key 'recipe'"):
        load_registry(write_registry(path, broken))
    path.write_text("encoders: {}")
    with pytest.raises(RegistryError, match="list 'encoders'"):
        load_registry(path)


@pytest.mark.parametrize("version", [2, None, "1"])
def test_a_registry_of_another_format_version_is_refused_in_one_line(tmp_path, version):
    path = tmp_path / "registry.yaml"
    data = {"encoders": [entry()]} | ({} if version is None else {"format_version": version})
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(RegistryError) as error:
        load_registry(path)
    message = str(error.value)
    assert message.startswith(f"{path}: field 'format_version'") and len(message.splitlines()) == 1
    assert f"reads registry format_version 1, the file has {version!r}" in message


def test_the_packaged_registry_is_valid_and_found_by_default():
    assert default_registry_path().is_file()
    assert [e.full_name for e in load_registry(default_registry_path())] == list(dynaflip.list_pretrained())


def test_an_available_entry_downloads_and_checks_its_weights(tmp_path):
    root = tmp_path / "served"
    folder = make_export(root / "tiny")
    sha = file_sha256(folder / "model.safetensors")
    with HubServer(root) as server:
        available = entry(status="available", sha256=sha, sources={"url": f"{server.url}/tiny"})
        path = write_registry(tmp_path / "registry.yaml", available, entry(tag="v0"))
        assert dynaflip.list_pretrained(registry=path) == {
            "tiny-test@v1": "available",
            "tiny-test@v0": "not yet trained",
        }
        encoder, preprocess = dynaflip.load("tiny-test", registry=path)
        reference, _ = dynaflip.load(folder)
        assert torch.equal(features(encoder), features(reference)) and preprocess.mean == (0.5, 0.5, 0.5)

        shutil.copytree(folder, root / "other")
        wrong = entry(status="available", sha256="b" * 64, sources={"url": f"{server.url}/other"})
        with pytest.raises(ChecksumError, match=r"the registry expects b{64}"):
            dynaflip.load("tiny-test", registry=write_registry(path, wrong))
        assert not server.ranges("other/model.safetensors")  # refused before fetching the weights

        skewed = entry(status="available", sha256=sha, mean=[0.4, 0.5, 0.5], sources={"url": f"{server.url}/tiny"})
        with pytest.raises(HubError, match="disagrees with the registry on mean"):
            dynaflip.load("tiny-test", registry=write_registry(path, skewed))


def test_a_shipped_entry_loads_offline_from_a_path_beside_the_registry(tmp_path, monkeypatch):
    folder = make_export(tmp_path / "weights" / "tiny")
    sha = file_sha256(folder / "model.safetensors")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing to download: the weights ship with the registry
    path = write_registry(
        tmp_path / "registry.yaml", entry(status="available", sha256=sha, sources={"path": "weights/tiny"})
    )
    encoder, preprocess = dynaflip.load("tiny-test", registry=path)
    reference, _ = dynaflip.load(folder)
    assert torch.equal(features(encoder), features(reference)) and preprocess.size == 32

    tampered = entry(status="available", sha256="c" * 64, sources={"path": "weights/tiny"})
    with pytest.raises(ChecksumError, match=r"the registry expects c{64}"):
        dynaflip.load("tiny-test", registry=write_registry(path, tampered))
    missing = entry(status="available", sha256=sha, sources={"path": "weights/absent"})
    with pytest.raises(HubError, match=r"sources.path: no config.json \+ model.safetensors in .*weights/absent"):
        dynaflip.load("tiny-test", registry=write_registry(path, missing))
