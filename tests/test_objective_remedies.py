"""The collapse remedies as switches (issue 22): the temporal loss on a projection head, VICReg's variance and
covariance terms, and the backbone's own learning rate and weight decay. The defaults stay the paper's."""

import pytest
import torch

from dynaflip.models import DynaFLIP
from dynaflip.objective import DynaFLIPLoss, ObjectiveConfig, temporal_contrastive_loss, variance_covariance_terms
from dynaflip.train.config import OptimConfig
from dynaflip.train.param_groups import parameter_groups
from dynaflip.train.schedule import set_learning_rate
from tests.helpers.tiny import tiny_model_config

IMAGE_ONLY = {"modalities": ["image"], "lambda_act": 0.0}


def _batch(seed=0, batch=6):
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randn(batch, 3, 3, 32, 32, generator=generator)
    clip_ids = torch.arange(batch)
    return frames, clip_ids


def test_defaults_are_the_papers_objective():
    config = ObjectiveConfig()
    assert config.tcn_on == "features" and config.lambda_vicreg == 0.0
    assert OptimConfig().backbone_lr_scale == 1.0 and OptimConfig().backbone_weight_decay is None
    torch.manual_seed(0)
    model = DynaFLIP(tiny_model_config(), ObjectiveConfig(**IMAGE_ONLY))
    assert model.frame_projection is None
    frames, clip_ids = _batch()
    out = model(frames)
    # The temporal loss reads the backbone features themselves.
    encoded = model.image_encoder(frames.flatten(0, 1)).view(6, 3, -1)
    torch.testing.assert_close(out.frame_features, encoded)
    result = DynaFLIPLoss(model.objective)(out, clip_ids=clip_ids)
    assert set(result.terms) == {"tcn"}


def test_temporal_loss_on_a_projection_head():
    torch.manual_seed(0)
    model = DynaFLIP(tiny_model_config(), ObjectiveConfig(**IMAGE_ONLY, tcn_on="projection"))
    assert model.frame_projection is not None
    frames, clip_ids = _batch()
    out = model(frames)
    assert out.frame_features.shape == (6, 3, model.model_config.embed_dim)  # projection_dim null: embed_dim
    encoded = model.image_encoder(frames.flatten(0, 1)).view(6, 3, -1)
    torch.testing.assert_close(out.frame_features, model.frame_projection(encoded))
    result = DynaFLIPLoss(model.objective)(out, clip_ids=clip_ids)
    expected = temporal_contrastive_loss(
        out.frame_features[:, 0], out.frame_features[:, 1], out.frame_features[:, 2], clip_ids=clip_ids, temperature=0.1
    )
    torch.testing.assert_close(result.terms["tcn"], expected)
    result.total.backward()  # the backbone still learns, through the head
    assert model.image_encoder.backbone.patch_embed.proj.weight.grad.abs().sum() > 0
    assert model.frame_projection.mlp[0].weight.grad.abs().sum() > 0
    # An explicit width
    wide_config = tiny_model_config()
    wide_config.projection_dim = 24
    wide = DynaFLIP(wide_config, ObjectiveConfig(**IMAGE_ONLY, tcn_on="projection"))
    assert wide(frames).frame_features.shape[-1] == 24


def test_variance_covariance_terms_on_constructed_embeddings():
    collapsed = torch.ones(64, 8)
    variance, covariance = variance_covariance_terms(collapsed)
    assert variance.item() == pytest.approx(1 - 1e-2, abs=1e-6)  # relu(1 - sqrt(0 + 1e-4))
    assert covariance.item() == pytest.approx(0.0)
    isotropic = torch.randn(20000, 8, generator=torch.Generator().manual_seed(0))
    variance, covariance = variance_covariance_terms(isotropic)
    assert variance.item() < 0.02 and covariance.item() < 0.01
    base = torch.randn(20000, 1, generator=torch.Generator().manual_seed(1))
    correlated = base.repeat(1, 8) * 2  # 8 copies of one direction, std 2
    variance, covariance = variance_covariance_terms(correlated)
    assert variance.item() == 0.0 and covariance.item() == pytest.approx(7 * 16, rel=0.05)  # 8*7 cov^2=16 / 8


def test_vicreg_term_joins_the_total_with_its_weight_and_spreads_the_features():
    torch.manual_seed(0)
    config = ObjectiveConfig(**IMAGE_ONLY, lambda_tcn=0.0, lambda_vicreg=2.0)
    model = DynaFLIP(tiny_model_config(), config)
    frames, clip_ids = _batch(batch=16)
    out = model(frames)
    assert out.frame_features.shape[1] == 1  # no temporal loss: only the frame the model encodes
    result = DynaFLIPLoss(config)(out, clip_ids=clip_ids)
    assert set(result.terms) == {"vicreg"}
    expected_variance, expected_covariance = variance_covariance_terms(out.frame_features.flatten(0, 1))
    torch.testing.assert_close(result.terms["vicreg"], expected_variance + 0.04 * expected_covariance)
    torch.testing.assert_close(result.total, 2.0 * result.terms["vicreg"])
    # A few steps on the term alone raise the per-dimension spread of the features.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = result.metrics["vicreg_variance"].item()
    for _ in range(10):
        loss = DynaFLIPLoss(config)(model(frames), clip_ids=clip_ids).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = DynaFLIPLoss(config)(model(frames), clip_ids=clip_ids).metrics["vicreg_variance"].item()
    assert after < 0.7 * before


def test_remedy_switches_are_validated():
    with pytest.raises(ValueError, match=r"objective\.tcn_on"):
        ObjectiveConfig(tcn_on="backbone")
    with pytest.raises(ValueError, match=r"objective\.lambda_vicreg"):
        ObjectiveConfig(lambda_vicreg=-1.0)


def test_backbone_gets_its_own_rate_and_decay():
    torch.manual_seed(0)
    model = DynaFLIP(tiny_model_config(), ObjectiveConfig(**IMAGE_ONLY, tcn_on="projection"))
    default = parameter_groups(model, OptimConfig(weight_decay=0.01))
    assert [(g["weight_decay"], g["lr_scale"]) for g in default] == [(0.01, 1.0), (0.0, 1.0)]
    groups = parameter_groups(model, OptimConfig(weight_decay=0.01, backbone_lr_scale=0.1, backbone_weight_decay=0.05))
    assert [(g["weight_decay"], g["lr_scale"]) for g in groups] == [(0.01, 1.0), (0.0, 1.0), (0.05, 0.1), (0.0, 0.1)]
    backbone = {id(p) for p in model.image_encoder.backbone.parameters()}
    assert {id(p) for g in groups[2:] for p in g["params"]} == backbone
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    optimizer = torch.optim.AdamW(groups, lr=1.0)
    set_learning_rate(optimizer, 3e-4)  # the schedule's rate, scaled per group
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([3e-4, 3e-4, 3e-5, 3e-5])
    with pytest.raises(ValueError, match=r"optim\.backbone_lr_scale"):
        parameter_groups(model, OptimConfig(backbone_lr_scale=0.0))
