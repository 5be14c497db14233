"""The losses against naive per-sample loops (false negatives masked), the collapse monitor, the ablation
switches end to end on a tiny model, float32 losses from a bf16 model, and the actor told where points are."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from dynaflip.geometry import query_grid
from dynaflip.models import DynaFLIP
from dynaflip.models.dynaflip_model import DynaFLIPOutputs
from dynaflip.objective import (
    DynaFLIPLoss,
    ObjectiveConfig,
    actor_loss,
    area_alignment_loss,
    pairwise_alignment_loss,
    temporal_contrastive_loss,
    triangle_area,
)
from dynaflip.step import compute_loss, forward, forward_and_loss
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
    "image_in_the_regulariser": {"cosine_pairs": "all_pairs"},
}


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_every_ablation_trains_every_parameter_it_builds(name):
    torch.manual_seed(0)
    objective = ObjectiveConfig(**ABLATIONS[name])
    model = DynaFLIP(tiny_model_config(), objective, text_dim=24)
    loss_fn = DynaFLIPLoss(objective)
    batch = synthetic_batch(6, image_size=32, grid_size=4, flow_steps=3, text_dim=24, seed=1)
    result = forward_and_loss(model, loss_fn, batch)
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
    outputs = forward(model, batch)
    outputs.embeddings["flow"].sum().backward()
    assert all(p.grad is None for p in model.image_encoder.parameters())
    assert any(p.grad is not None for p in model.flow_encoder.parameters())


def test_invalid_objective_configs_are_refused():
    with pytest.raises(ValueError, match="must include 'image'"):
        ObjectiveConfig(modalities=["language", "flow"])
    with pytest.raises(ValueError, match="temperature"):
        ObjectiveConfig(temperature=0.0)


def naive_area_loss(z, *, alpha, tau, clip_ids, text_ids, cosine_pairs="language_flow"):
    """Per-anchor InfoNCE by explicit loops over candidates, skipping the false negatives."""
    batch = len(clip_ids)
    per_anchor = {}
    for anchor in MODALITIES:
        total = 0.0
        for i in range(batch):
            logits = []
            for j in range(batch):
                if j != i and clip_ids[j] == clip_ids[i]:
                    continue  # the same clip: not a negative, whichever the anchor
                if anchor == "language" and j != i and text_ids[j] == text_ids[i]:
                    continue
                t = {m: (z[m][i] if m == anchor else z[m][j]) for m in MODALITIES}
                area = triangle_area(t["image"], t["language"], t["flow"], eps=1e-12).item()
                il, if_, lf = (
                    float(t["image"] @ t["language"]),
                    float(t["image"] @ t["flow"]),
                    float(t["language"] @ t["flow"]),
                )
                cosine = lf if cosine_pairs == "language_flow" else (il + if_ + lf) / 3
                logits.append((j == i, -(area - alpha * cosine) / tau))
            log_norm = math.log(sum(math.exp(value) for _, value in logits))
            total += log_norm - next(value for is_positive, value in logits if is_positive)
        per_anchor[anchor] = total / batch
    return per_anchor


@pytest.mark.parametrize("cosine_pairs", ["language_flow", "all_pairs"])
def test_same_clip_columns_are_masked_for_every_anchor(cosine_pairs):
    from dynaflip.objective.alignment import NegativeMasks

    batch, tau, alpha = 8, 0.07, 1.0
    z = {m: unit(batch, 10, 30 + seed) for seed, m in enumerate(MODALITIES)}
    clip_ids = torch.tensor([0, 1, 0, 2, 3, 1, 0, 4])  # samples 0, 2, 6 share a clip, so do 1 and 5
    text_ids = torch.tensor([0, 1, 0, 2, 2, 1, 0, 3])
    masks = NegativeMasks.from_ids(
        clip_ids=clip_ids, gathered_clip_ids=clip_ids, text_ids=text_ids, gathered_text_ids=text_ids
    )
    loss, metrics = area_alignment_loss(
        z, logit_scale=1 / tau, alpha=alpha, eps=1e-12, masks=masks, cosine_pairs=cosine_pairs
    )
    want = naive_area_loss(z, alpha=alpha, tau=tau, clip_ids=clip_ids, text_ids=text_ids, cosine_pairs=cosine_pairs)
    for anchor in MODALITIES:
        assert metrics[f"align_{anchor}"].item() == pytest.approx(want[anchor], rel=1e-9), anchor
    assert loss.item() == pytest.approx(sum(want.values()) / 3, rel=1e-9)
    # Logged counts: same-clip columns per row (2+1+2+0+0+1+2+0)/8, negatives left per anchor.
    assert metrics["masked_same_clip"].item() == pytest.approx(8 / 8)
    assert metrics["negatives_image"].item() == metrics["negatives_flow"].item() == pytest.approx(7 - 1)
    # Language also drops same-instruction columns: rows 3 and 4 (text 2, different clips) lose one each.
    assert metrics["negatives_language"].item() == pytest.approx(7 - 1 - 2 / 8)


def test_pairwise_loss_masks_same_clip_columns():
    from dynaflip.objective.alignment import NegativeMasks

    batch, tau = 6, 0.1
    z = {m: unit(batch, 8, 40 + seed) for seed, m in enumerate(MODALITIES)}
    clip_ids = torch.tensor([0, 0, 1, 2, 2, 3])
    masks = NegativeMasks.from_ids(clip_ids=clip_ids, gathered_clip_ids=clip_ids)
    loss, metrics = pairwise_alignment_loss(z, anchor="language", logit_scale=1 / tau, masks=masks)

    def direction(a, b):
        total = 0.0
        for i in range(batch):
            keep = [j for j in range(batch) if j == i or clip_ids[j] != clip_ids[i]]
            logits = torch.stack([a[i] @ b[j] / tau for j in keep])
            total += -torch.log_softmax(logits, 0)[keep.index(i)].item()
        return total / batch

    pairs = [("language", "image"), ("language", "flow")]
    want = sum((direction(z[a], z[b]) + direction(z[b], z[a])) / 2 for a, b in pairs) / 2
    assert loss.item() == pytest.approx(want, rel=1e-9)
    assert metrics["masked_same_clip"].item() == pytest.approx(4 / 6)


def test_collapse_monitor_and_the_image_in_the_regulariser():
    """Collapsed triplets (a sample's three embeddings coincide): every positive and negative area vanishes, so
    with the paper's <z_L, z_F> the image anchor cannot tell its positive (loss log B); with the image also in
    the regulariser it can. The monitor shows the collapse: both mean areas ~0."""
    batch = 6
    shared = unit(batch, 12, 50)
    collapsed = {m: shared.clone() for m in MODALITIES}
    _, paper = area_alignment_loss(collapsed, logit_scale=1 / 0.07, alpha=1.0, eps=1e-12)
    _, all_pairs = area_alignment_loss(collapsed, logit_scale=1 / 0.07, alpha=1.0, eps=1e-12, cosine_pairs="all_pairs")
    assert paper["area_positive"].item() < 1e-5 and paper["area_negative"].item() < 1e-5
    assert paper["align_image"].item() == pytest.approx(math.log(batch), rel=1e-6)
    assert all_pairs["align_image"].item() < math.log(batch) - 0.5
    spread = {m: unit(batch, 12, 60 + seed) for seed, m in enumerate(MODALITIES)}
    _, healthy = area_alignment_loss(spread, logit_scale=1 / 0.07, alpha=1.0, eps=1e-12)
    naive_positive = sum(triangle_area(spread["image"][i], spread["language"][i], spread["flow"][i], eps=1e-12)
                         for i in range(batch)) / batch  # fmt: skip
    assert healthy["area_positive"].item() == pytest.approx(naive_positive.item(), rel=1e-9)
    assert healthy["area_negative"].item() > 0.1


def test_bf16_model_outputs_give_a_float32_loss():
    """A bf16 model (as DeepSpeed's bf16 engine runs it) with bf16 frames and text and float32 points: the
    loss is computed in float32 from re-normalised embeddings, matching the float64 loss of the same outputs."""
    torch.manual_seed(0)
    objective = ObjectiveConfig()
    model = DynaFLIP(tiny_model_config(), objective, text_dim=24).bfloat16()
    batch = synthetic_batch(8, image_size=32, grid_size=4, flow_steps=3, text_dim=24, seed=2).to(dtype=torch.bfloat16)
    assert batch.frames.dtype == batch.text_embedding.dtype == torch.bfloat16 and batch.points3d.dtype == torch.float32
    outputs = forward(model, batch)
    assert outputs.embeddings["image"].dtype == torch.bfloat16 and outputs.logit_scale.dtype == torch.float32
    assert outputs.logit_scale.item() == pytest.approx(1 / 0.07, rel=1e-7)  # not rounded to bf16
    loss_fn = DynaFLIPLoss(objective)
    result = compute_loss(loss_fn, outputs, text_ids=batch.text_ids, clip_ids=batch.clip_ids)
    assert result.total.dtype == torch.float32 and torch.isfinite(result.total)
    reference = DynaFLIPOutputs(
        embeddings={k: F.normalize(v.double(), dim=-1) for k, v in outputs.embeddings.items()},
        frame_features=outputs.frame_features.double(),
        actor_prediction=outputs.actor_prediction.double(),
        actor_target=outputs.actor_target.double(),
        actor_mask=outputs.actor_mask.double(),
        logit_scale=outputs.logit_scale.double(),
    )
    want = compute_loss(loss_fn, reference, text_ids=batch.text_ids, clip_ids=batch.clip_ids).total
    assert result.total.item() == pytest.approx(want.item(), rel=1e-5)
    result.total.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_actor_is_told_where_each_point_is():
    """The actor predicts the flow of the point at the location it is given; points outside the image get no
    target (they are not in the crop the encoder saw)."""
    torch.manual_seed(0)
    model = DynaFLIP(tiny_model_config(), ObjectiveConfig(), text_dim=24)
    batch = synthetic_batch(2, image_size=32, grid_size=4, flow_steps=3, text_dim=24, seed=3)
    grid = torch.from_numpy(query_grid(grid_size=4, width=32, height=32)).expand(2, -1, -1)
    default = forward(model, batch)
    told = forward(model, dataclasses.replace(batch, queries2d=grid))
    torch.testing.assert_close(told.actor_prediction, default.actor_prediction)  # default = the stored grid
    shifted = grid.clone()
    shifted[:, 0] = torch.tensor([40.0, 5.0])  # outside the 32-px image
    shifted[:, 1] = shifted[:, 1] + 3.0
    moved = forward(model, dataclasses.replace(batch, queries2d=shifted))
    assert not torch.allclose(moved.actor_prediction[:, 1], default.actor_prediction[:, 1])
    torch.testing.assert_close(moved.actor_prediction[:, 2:], default.actor_prediction[:, 2:])
    assert (moved.actor_mask[:, 0] == 0).all() and (default.actor_mask[:, 0] == batch.points3d_valid[:, 1, 0]).all()
