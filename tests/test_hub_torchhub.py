"""hubconf.py: torch.hub.load(source="local") on this repository with an export folder."""

import torch

import dynaflip
from tests.helpers.hub_checkpoint import REPO, features, make_export


def test_torch_hub_loads_the_encoder_and_its_preprocessing_from_an_export_folder(tmp_path):
    folder = make_export(tmp_path / "export", seed=5)
    encoder = torch.hub.load(str(REPO), "dynaflip_encoder", source="local", name_or_path=str(folder))
    preprocess = torch.hub.load(str(REPO), "dynaflip_preprocess", source="local", name_or_path=str(folder))
    reference, expected_preprocess = dynaflip.load(folder)
    assert torch.equal(features(encoder), features(reference))
    assert preprocess == expected_preprocess
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
