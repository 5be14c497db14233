"""The encoders that ship inside the package (dynaflip/pretrained/weights/): each loads offline by name and
through torch.hub, matches its registry checksum, stays small, carries an honest model card, and gives the
features its exported training checkpoint gave when it was published (tests/data/shipped_features.json).

Record the reference features again after publishing new weights (from the run's own export folders):

    python -m tests.test_shipped_encoders outputs/study-cpu
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dynaflip
from dynaflip.hub.checksum import file_sha256
from dynaflip.hub.registry import find_entry, load_registry
from tests.helpers.hub_checkpoint import REPO

REFERENCE = REPO / "tests" / "data" / "shipped_features.json"
# The run of the study each shipped encoder was exported from (configs/study/cpu.yaml, `publish:`).
SHIPPED = {"dynaflip-tiny-metaworld@study-cpu": "dynaflip-s0", "imageonly-tiny-metaworld@study-cpu": "image-only-s0"}
COLUMNS = slice(0, None, 16)  # every 16th feature: enough to pin the weights, small enough to read in a diff


def probe_images(size: int) -> np.ndarray:
    """Four uint8 RGB images: seeded noise, a colour ramp, a dark and a bright block scene."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    horizontal, vertical = np.meshgrid(np.linspace(0, 255, size), np.linspace(255, 0, size))
    ramp = np.stack([horizontal, vertical, np.full((size, size), 128.0)], -1)
    dark = np.full((size, size, 3), 30, np.uint8)
    dark[size // 4 : size // 2, size // 3 : 2 * size // 3] = (200, 40, 40)
    bright = np.full((size, size, 3), 220, np.uint8)
    bright[size // 2 :, : size // 2] = (40, 90, 200)
    return np.stack([noise, ramp.astype(np.uint8), dark, bright])


def encoder_features(name_or_path: str | Path) -> torch.Tensor:
    encoder, preprocess = dynaflip.load(name_or_path)
    with torch.no_grad():
        return encoder(preprocess(probe_images(preprocess.size)))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the weights ship with the package: nothing may be downloaded


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_encoder_loads_offline_with_the_features_it_was_published_with(name):
    entry = find_entry(name, load_registry())
    assert entry.available and entry.local_folder is not None
    weights = entry.local_folder / "model.safetensors"
    assert entry.sha256 == file_sha256(weights)
    assert weights.stat().st_size < 20 * 2**20
    config = json.loads((entry.local_folder / "config.json").read_text())
    assert config["weights_sha256"] == entry.sha256 and config["training"]["steps"] == 1000
    card = (entry.local_folder / "README.md").read_text()
    assert "Meta-World" in card and "not the paper's model" in card and "| encoder |" in card

    features = encoder_features(name)
    assert features.shape == (4, config["output_dim"]) and torch.isfinite(features).all()
    reference = json.loads(REFERENCE.read_text())[name]
    assert reference["sha256"] == entry.sha256, "tests/data/shipped_features.json is stale: record it again"
    expected = torch.tensor(reference["features"])
    torch.testing.assert_close(features[:, COLUMNS], expected, rtol=1e-4, atol=1e-4)
    # Not collapsed: the four different images give clearly different features.
    cosine = torch.nn.functional.cosine_similarity(features[:, None], features[None], dim=-1)
    assert cosine[~torch.eye(4, dtype=torch.bool)].max() < 0.999


def test_the_short_name_is_the_shipped_full_objective_encoder_and_torch_hub_loads_it():
    assert dynaflip.list_pretrained()["dynaflip-tiny-metaworld@study-cpu"] == "available"
    by_short_name = encoder_features("dynaflip-tiny-metaworld")
    assert torch.equal(by_short_name, encoder_features("dynaflip-tiny-metaworld@study-cpu"))
    short = "dynaflip-tiny-metaworld"
    encoder = torch.hub.load(str(REPO), "dynaflip_encoder", source="local", name_or_path=short)
    preprocess = torch.hub.load(str(REPO), "dynaflip_preprocess", source="local", name_or_path=short)
    with torch.no_grad():
        assert torch.equal(encoder(preprocess(probe_images(preprocess.size))), by_short_name)
    # The two shipped arms are different encoders, not one set of weights under two names.
    assert not torch.allclose(by_short_name, encoder_features("imageonly-tiny-metaworld"), atol=1e-2)


def record(study_dir: Path) -> None:
    """Write the reference features of each shipped encoder, computed from the run's own export folder."""
    entries = {entry.full_name: entry for entry in load_registry()}
    reference = {}
    for name, run in SHIPPED.items():
        export = study_dir / "runs" / run / "export"
        config = json.loads((export / "config.json").read_text())
        if config["weights_sha256"] != entries[name].sha256:
            raise SystemExit(f"{export}: weights_sha256 differs from the registry's {name}: publish again first")
        features = encoder_features(export)[:, COLUMNS]
        reference[name] = {"export": f"{run}/export", "sha256": config["weights_sha256"],
                           "features": [[round(float(v), 6) for v in row] for row in features]}  # fmt: skip
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(reference, indent=1)
    for rows in reference.values():  # one line per image: a readable diff when the weights change
        for row in rows["features"]:
            text = text.replace(json.dumps(row, indent=1).replace("\n", "\n   "), json.dumps(row), 1)
    REFERENCE.write_text(text + "\n")
    print(f"wrote {REFERENCE} ({', '.join(reference)})")


if __name__ == "__main__":
    record(Path(sys.argv[1]))
