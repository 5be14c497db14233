"""The BC input transform (issue 22): PCA whitening of the image features fitted on the training demos only,
the same for every encoder, the calibration rows included; standardised raw features stay a setting."""

import json

import numpy as np
import pytest
import torch

from dynaflip.eval.policy import BCData, BCPolicy, Demo, PolicyConfig, train_bc
from dynaflip.eval.policy_cli import main
from tests.helpers.policy_settings import QUICK_CONFIG

KWARGS = {"task": "reach-v3", "hidden": [64, 64], "batch_size": 64, "lr": 3e-3}


def _collapsed_demos(count, *, steps=60, dim=48, seed=0):
    """Features like a collapsed encoder's: one loud direction (a clock) and the action in small ones."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(np.random.default_rng(7).normal(size=(dim, dim)))[0]
    features, demos = [], []
    for index in range(count):
        clock = np.linspace(-1, 1, steps)[:, None]
        signal = rng.normal(size=(steps, 6))
        latent = np.concatenate([100 * clock, signal, 0.01 * rng.normal(size=(steps, dim - 7))], axis=1)
        proprio = rng.uniform(-0.5, 0.5, size=(steps, 4)).astype(np.float32)
        actions = np.tanh(signal[:, :4] - signal[:, 2:6]).astype(np.float32)
        demos.append(Demo("reach-v3", index, None, proprio, actions, np.zeros(steps, bool)))
        features.append((latent @ basis.T).astype(np.float32))
    return features, demos


def test_the_default_transform_is_pca_whitening_to_32():
    config = PolicyConfig()
    assert config.bc.input_transform == "pca_whiten" and config.bc.transform_width == 32


def test_the_transform_is_fitted_on_the_training_demos_only():
    features, demos = _collapsed_demos(10)
    train = BCData.from_demos(features[:8], demos[:8])
    val = BCData.from_demos(features[8:], demos[8:])
    policy, _ = train_bc(train, val, seed=0, epochs=2, input_transform="pca_whiten", transform_width=16, **KWARGS)
    # Other validation data (a rollout's frames stand in the same place: never seen by the fit) -> same fit.
    other_val = BCData(inputs=val.inputs * 3 + 7, actions=val.actions)
    other, _ = train_bc(train, other_val, seed=0, epochs=2, input_transform="pca_whiten", transform_width=16, **KWARGS)
    for name in ("input_mean", "input_std", "components", "component_scale"):
        torch.testing.assert_close(getattr(policy, name), getattr(other, name), rtol=0, atol=0)
    # Acting on a changed rollout frame changes no fitted buffer.
    before = {name: tensor.clone() for name, tensor in policy.state_dict().items()}
    policy.act(features[9][0] * 50, demos[9].proprio[0])
    for name, tensor in policy.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    # The fit is that of the training inputs alone: whitened training features are uncorrelated, the 7 real
    # directions at unit variance; the floored ones (noise at 1e-4 of the clock) stay below it.
    with torch.no_grad():
        seen = policy.standardise(torch.from_numpy(train.inputs))[:, :16].double()
    assert policy.mlp[0].in_features == 16 + 4
    covariance = seen.T @ seen / len(seen)
    torch.testing.assert_close(covariance[:7, :7], torch.eye(7, dtype=torch.float64), atol=0.05, rtol=0)
    off_diagonal = covariance - torch.diag(torch.diagonal(covariance))
    assert off_diagonal.abs().max() < 0.05 and torch.diagonal(covariance)[7:].max() < 1.0


def test_whitening_reads_small_directions_that_standardising_leaves_drowned():
    features, demos = _collapsed_demos(12)
    train = BCData.from_demos(features[:10], demos[:10])
    val = BCData.from_demos(features[10:], demos[10:])
    losses = {}
    for transform in ("standardise", "pca_whiten"):
        _, summary = train_bc(train, val, seed=0, epochs=40, input_transform=transform, transform_width=8, **KWARGS)
        losses[transform] = summary.val_loss
    assert losses["pca_whiten"] < 0.7 * losses["standardise"], losses  # measured: 0.0081 vs 0.0153


def test_policy_with_a_transform_round_trips_and_old_files_still_load(tmp_path):
    policy = BCPolicy(feature_dim=12, hidden=[8], input_transform="pca_whiten", transform_width=5)
    policy.set_standardisation(torch.randn(80, 16) @ torch.randn(16, 16))
    loaded = BCPolicy.load(policy.save(tmp_path / "seed0.pt"))
    assert loaded.input_transform == "pca_whiten" and loaded.mlp_feature_dim == 5
    inputs = torch.randn(3, 16)
    torch.testing.assert_close(loaded(inputs), policy(inputs))
    payload = torch.load(tmp_path / "seed0.pt", weights_only=True)
    old = BCPolicy(feature_dim=12, hidden=[8])
    payload.update(state_dict=old.state_dict())
    payload.pop("input_transform"), payload.pop("transform_width")
    torch.save(payload, tmp_path / "old.pt")
    assert BCPolicy.load(tmp_path / "old.pt").input_transform == "standardise"
    blind = BCPolicy(feature_dim=0, hidden=[8], input_transform="pca_whiten")  # no features: proprio only
    blind.set_standardisation(torch.randn(30, 4))
    assert blind.mlp[0].in_features == 4
    with pytest.raises(ValueError, match="input_transform: expected one of"):
        BCPolicy(feature_dim=3, input_transform="whiten")


@pytest.mark.slow
@pytest.mark.parametrize("transform", ["pca_whiten"])
def test_calibration_rows_reach_ceiling_and_floor_through_the_transform(tmp_path, capsys, transform):
    """oracle:state (39-d state -> 32 components) still solves a calibrated task; blind stays below it."""
    successes = {}
    for spec in ("oracle:state", "blind"):
        out = tmp_path / spec.replace(":", "-")
        code = main([
            "run", "--encoder", spec, "--out", str(out), "--config", QUICK_CONFIG, "--no-progress",
            "tasks=[pick-place-v3]", "bc.seeds=[0]", "rollout.episodes=10", "rollout.horizon=120",
            "rollout.shifts=[]", "runtime.workers=1", f"runtime.cache_dir={tmp_path / 'cache'}",
            f"bc.input_transform={transform}",
        ])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        records = [json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]
        successes[spec] = np.mean([record["success"] for record in records])
        policy = BCPolicy.load(out / "policies" / "pick-place-v3" / "seed0.pt")
        assert policy.input_transform == transform
    assert successes["oracle:state"] >= 0.8, successes
    assert successes["blind"] < successes["oracle:state"], successes
