"""The losses against naive per-sample loops, and the ablation switches end to end on a tiny model."""

import math

import pytest
import torch
import torch.nn.functional as F

from dynaflip.models import DynaFLIP
from dynaflip.objective import (
    DynaFLIPLoss,
    ObjectiveConfig,
    actor_loss,
    area_alignment_loss,
    pairwise_alignment_loss,
    temporal_contrastive_loss,
    triangle_area,
)
from dynaflip.synthetic import synthetic_batch
from tests.helpers.tiny import tiny_model_config

MODALITIES = ("image", "language", "flow")


def unit(batch, dim, seed):
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(batch, dim, generator=generator, dtype=torch.float64), dim=-1)


def naive_energy(image, language, flow, alpha):
    return triangle_area(image, language, flow, eps=1e-12).item() - alpha * float(language @ flow)


def test_area_infonce_matches_naive_loop():
    batch, tau, alpha = 7, 0.07, 1.0
    z = {m: unit(batch, 10, seed) for seed, m in enumerate(MODALITIES)}
    text_ids = torch.tensor([0, 1, 0, 2, 3, 1, 4])
    loss, _ = area_alignment_loss(
        z, logit_scale=1 / tau, alpha=alpha, eps=1e-12, text_ids=text_ids, gathered_text_ids=text_ids
    )
    per_anchor = []
    for anchor in MODALITIES:
        total = 0.0
        for i in range(batch):
            logits = []
            for j in range(batch):
                if anchor == "language" and j != i and text_ids[j] == text_ids[i]:
                    continue  # the same instruction: a duplicate of the positive, not a negative
                triplet = {m: (z[m][i] if m == anchor else z[m][j]) for m in MODALITIES}
                logits.append(
                    (j == i, -naive_energy(triplet["image"], triplet["language"], triplet["flow"], alpha) / tau)
                )
            log_norm = math.log(sum(math.exp(value) for _, value in logits))
            positive = next(value for is_positive, value in logits if is_positive)
            total += log_norm - positive
        per_anchor.append(total / batch)
    assert loss.item() == pytest.approx(sum(per_anchor) / 3, rel=1e-9)


def test_pairwise_infonce_matches_naive_loop():
    batch, tau = 6, 0.1
    z = {m: unit(batch, 8, 10 + seed) for seed, m in enumerate(MODALITIES)}
    loss, _ = pairwise_alignment_loss(z, anchor="language", logit_scale=1 / tau)

    def clip_direction(a, b):
        return (
            sum(
                -torch.log_softmax(torch.stack([a[i] @ b[j] / tau for j in range(batch)]), 0)[i].item()
                for i in range(batch)
            )
            / batch
        )

    pairs = [("language", "image"), ("language", "flow")]
    want = sum((clip_direction(z[a], z[b]) + clip_direction(z[b], z[a])) / 2 for a, b in pairs) / 2
    assert loss.item() == pytest.approx(want, rel=1e-9)


def test_temporal_loss_matches_naive_loop():
    batch, tau = 5, 0.1
    early, middle, late = (unit(batch, 6, 20 + k) for k in range(3))
    clip_ids = torch.tensor([0, 1, 1, 2, 3])  # samples 1 and 2 share a clip: not negatives of each other
    loss = temporal_contrastive_loss(early, middle, late, clip_ids=clip_ids, temperature=tau)

    def sim(a, b):
        return -torch.linalg.vector_norm(a - b).item() / tau

    total = 0.0
    for anchor_frames, _anchor_name in ((late, "late"), (early, "early")):
        for i in range(batch):
            anchor = anchor_frames[i]
            positive = sim(anchor, middle[i])
            negatives = [sim(early[i], late[i])]
            negatives += [sim(anchor, anchor_frames[j]) for j in range(batch) if clip_ids[j] != clip_ids[i]]
            log_norm = math.log(math.exp(positive) + sum(math.exp(n) for n in negatives))
            total += (log_norm - positive) / batch
    assert loss.item() == pytest.approx(total / 2, rel=1e-9)


def test_actor_loss_is_mean_of_per_sample_masked_errors():
    prediction = torch.randn(3, 4, 3)
    target = torch.randn(3, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.float32)
    squared = ((prediction - target) ** 2).sum(-1)
    want = (squared[0, :2].mean() + squared[1].mean() + 0.0) / 3
    assert actor_loss(prediction, target, mask).item() == pytest.approx(want.item(), rel=1e-6)


ABLATIONS = {
    "full": {},
    "no_flow": {"modalities": ["image", "language"]},
    "no_language": {"modalities": ["image", "flow"]},
    "anchor_based": {"alignment": "pairwise"},
    "no_negatives": {"negatives": False},
    "no_cosine_regulariser": {"alpha": 0.0},
    "no_actor": {"lambda_act": 0.0},
    "no_temporal": {"lambda_tcn": 0.0},
    "image_only": {"modalities": ["image"], "lambda_act": 0.0},
    "learnable_temperature": {"learnable_temperature": True},
}


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_every_ablation_trains_every_parameter_it_builds(name):
    torch.manual_seed(0)
    objective = ObjectiveConfig(**ABLATIONS[name])
    model = DynaFLIP(tiny_model_config(), objective, text_dim=24)
    loss_fn = DynaFLIPLoss(objective)
    batch = synthetic_batch(6, image_size=32, grid_size=4, flow_steps=3, text_dim=24, seed=1)
    outputs = model(
        batch["frames"],
        points3d=batch["points3d"],
        points3d_valid=batch["points3d_valid"],
        text_embedding=batch["text_embedding"],
    )
    result = loss_fn(outputs, text_ids=batch["text_ids"], clip_ids=batch["clip_ids"])
    assert torch.isfinite(result.total)
    result.total.backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f"{name}: parameters without gradient: {unused[:5]}"
    assert (model.flow_encoder is not None) == objective.uses_flow
    assert (model.text_adapter is not None) == objective.uses_language
    assert (model.actor is not None) == (objective.lambda_act > 0)
    expected_terms = {"align"} if objective.has_alignment else set()
    expected_terms |= {"tcn"} if objective.lambda_tcn > 0 else set()
    expected_terms |= {"act"} if objective.lambda_act > 0 else set()
    assert set(result.terms) == expected_terms


def test_flow_branch_does_not_shape_the_image_encoder():
    """The flow encoder sees stop-grad(d_t): a loss on z_F alone leaves the image encoder without gradient."""
    model = DynaFLIP(tiny_model_config(), ObjectiveConfig(lambda_act=0.0, lambda_tcn=0.0), text_dim=24)
    batch = synthetic_batch(4, image_size=32, grid_size=4, flow_steps=3, text_dim=24)
    outputs = model(
        batch["frames"],
        points3d=batch["points3d"],
        points3d_valid=batch["points3d_valid"],
        text_embedding=batch["text_embedding"],
    )
    outputs.embeddings["flow"].sum().backward()
    assert all(p.grad is None for p in model.image_encoder.parameters())
    assert any(p.grad is not None for p in model.flow_encoder.parameters())


def test_invalid_objective_configs_are_refused():
    with pytest.raises(ValueError, match="must include 'image'"):
        ObjectiveConfig(modalities=["language", "flow"])
    with pytest.raises(ValueError, match="temperature"):
        ObjectiveConfig(temperature=0.0)
