"""The probe suite of one encoder on one dataset: features, per-seed sweeps, scores on every test split.

Protocol: features of frozen encoders are standardised on the training frames and projected on their
leading principal components, at most one per 10 training frames; each probe is one linear layer whose
(learning rate, weight decay, step) is selected on the validation episodes, whose predictions are clipped
to the training label range, and which is scored on test-id and on every OOD split (the same test states
re-rendered) by the skill score 1 - MSE / MSE(training label mean). Seed 0 uses the stored train/val
episodes; every further seed re-draws which training episodes validate and re-initialises the probe. 95 %
intervals come from a bootstrap over test episodes (within each task) and probe seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..encoders import EvalEncoder
from ..feature_cache import FeatureCache
from ..results import ResultRow
from .bootstrap import DEFAULT_SAMPLES, ProbeBootstrap
from .dataset import ProbeDataset
from .features import split_features
from .labels import VIEW_LABELS, VIEW_SHIFTS
from .scoring import METHOD, SplitPredictions, score_rows
from .splits import TEST_ID, TRAIN, VAL, partition, result_split
from .sums import EpisodeSums, episode_sums
from .sweep import SweepConfig, fit_probe
from .targets import CLASSIFICATION, ProbeSpec

FRAMES_PER_DIMENSION = 10  # training frames per probe input dimension that keep a linear probe well posed
AUTO = "auto"


@dataclass
class ProbeRun:
    """Rows for results.json, and what produced them."""

    rows: list[ResultRow]
    config: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)
    sums: EpisodeSums | None = None  # per (seed, test episode): what dynaflip-report pairs encoders on


def probe_components(pca_dims: str | int, *, train_frames: int, feature_dim: int) -> int | None:
    """How many principal components a probe reads (None: all standardised feature dimensions).

    ``"auto"``: ``train_frames // 10``, or None when that covers every feature dimension; ``0`` or
    ``"none"``: None (no projection, however few the frames); an integer k: k (at most ``feature_dim``).
    """
    if pca_dims == AUTO:
        wanted = max(train_frames // FRAMES_PER_DIMENSION, 1)
        return None if wanted >= feature_dim else wanted
    if pca_dims in (0, "0", "none"):
        return None
    try:
        count = int(pca_dims)
    except (TypeError, ValueError):
        raise ValueError(f"--pca-dims: expected 'auto', 'none' or a number of components, got {pca_dims!r}") from None
    if count < 0:
        raise ValueError(f"--pca-dims: expected >= 0, got {count}")
    return None if count >= feature_dim else count


def omitted_reason(dataset: ProbeDataset, probe: ProbeSpec, split: str) -> str | None:
    """Why ``probe`` is not scored on ``split``, or None. A view label (future flow, on the camera's pixel
    grid) under a moved camera is only a function of the image when the dataset re-expressed it."""
    shift = dataset.shift(split)
    if shift in VIEW_SHIFTS and probe.label in VIEW_LABELS and probe.label not in dataset.relabelled(split):
        return (
            f"'{probe.label}' of this dataset stays on the ID camera's pixel grid under the {shift} shift, so it "
            "is not a function of the shifted image (rebuild the data to re-express it for the shifted camera)"
        )
    return None


def run_probes(
    dataset: ProbeDataset,
    encoder: EvalEncoder,
    *,
    probes: list[ProbeSpec],
    cache: FeatureCache,
    seeds: int = 3,
    sweep: SweepConfig | None = None,
    pca_dims: str | int = AUTO,
    bootstrap_samples: int = DEFAULT_SAMPLES,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> ProbeRun:
    """Train and score ``probes`` on ``encoder``'s features of ``dataset`` for ``seeds`` seeds."""
    from tqdm.auto import tqdm

    if seeds < 1:
        raise ValueError(f"--seeds: expected >= 1, got {seeds}")
    if bootstrap_samples < 1:
        raise ValueError(f"--bootstrap-samples: expected >= 1, got {bootstrap_samples}")
    sweep = sweep or SweepConfig()
    sweep.check()
    probe_components(pca_dims, train_frames=1, feature_dim=1)  # a bad setting fails before any work
    started = time.perf_counter()
    tests = dataset.test_splits
    features, stats = split_features(
        dataset, encoder, [TRAIN, VAL, *tests], cache=cache, batch_size=batch_size, device=device, progress=progress
    )
    pool_x = np.concatenate([features[TRAIN], features[VAL]])
    pool = {
        key: np.concatenate([dataset.labels(TRAIN)[key], dataset.labels(VAL)[key]]) for key in dataset.labels(TRAIN)
    }
    stored_val = np.arange(len(pool_x)) >= len(features[TRAIN])
    test_labels = dataset.labels(TEST_ID)
    plan = ProbeBootstrap.plan(
        task=test_labels["task"], episode_seed=test_labels["episode_seed"], seeds=seeds, samples=bootstrap_samples
    )
    omitted = [
        {"probe": probe.name, "split": result_split(split), "reason": reason}
        for probe in probes
        for split in tests
        if (reason := omitted_reason(dataset, probe, split))
    ]
    scored = [(probe, split) for probe in probes for split in tests if omitted_reason(dataset, probe, split) is None]
    predictions: dict[tuple[str, str], SplitPredictions] = {}
    for probe, split in scored:
        target, mask = probe.target(dataset.labels(split))
        predictions[(probe.name, result_split(split))] = SplitPredictions(target=target, mask=mask)
    clipped: dict[tuple[str, str], list[float]] = {}
    selections, components = [], []
    probe_started = time.perf_counter()
    bar = tqdm(total=seeds * len(probes), desc=f"probes {encoder.name}", unit="fit", disable=not progress)
    try:
        for seed in range(seeds):
            train, val = partition(pool["task"], pool["episode_seed"], stored_val=stored_val, seed=seed)
            count = probe_components(pca_dims, train_frames=len(train), feature_dim=pool_x.shape[1])
            components.append({"seed": seed, "train_frames": len(train), "components": count})
            for probe in probes:
                target, mask = probe.target(pool)
                fitted, record = fit_probe(
                    pool_x[train],
                    target[train],
                    pool_x[val],
                    target[val],
                    kind=probe.kind,
                    train_mask=None if mask is None else mask[train],
                    val_mask=None if mask is None else mask[val],
                    num_classes=len(dataset.tasks),
                    config=sweep,
                    seed=seed,
                    device=device,
                    components=count,
                )
                selections.append({"probe": probe.name, "seed": seed, **record})
                for split in tests:
                    entry = predictions.get((probe.name, result_split(split)))
                    if entry is None:
                        continue
                    if probe.kind == CLASSIFICATION:
                        entry.predictions.append(fitted.predict(features[split]))
                        continue
                    raw = fitted.predict(features[split], clip=False)
                    entry.predictions.append(fitted.targets.clip(raw))
                    entry.train_means.append(fitted.targets.mean)
                    # Entries moved by the clip, among columns whose training range is more than one value
                    # (static background flow is 0 in every training frame: its clip to 0 is no extrapolation).
                    spread = np.broadcast_to(fitted.targets.high > fitted.targets.low, raw.shape)
                    counted = spread if entry.mask is None else spread & entry.mask
                    share = float((raw != entry.predictions[-1])[counted].mean()) if counted.any() else 0.0
                    clipped.setdefault((probe.name, result_split(split)), []).append(share)
                bar.update(1)
    finally:
        bar.close()
    splits = [result_split(split) for split in tests]
    rows, missing = score_rows(predictions, probes=probes, splits=splits, plan=plan)
    keys = np.unique(np.stack([test_labels["task"], test_labels["episode_seed"]], axis=1).astype(np.int64), axis=0)
    sums = episode_sums(
        predictions, probes=probes, splits=splits, plan=plan, task_names=list(dataset.tasks), episode_keys=keys
    )
    config = {
        "dataset": {
            "path": str(dataset.root),
            "dataset_id": dataset.dataset_id,
            "tasks": dataset.tasks,
            "settings": dataset.manifest["settings"],
            "frames": {split: dataset.num_frames(split) for split in [TRAIN, VAL, *tests]},
            "relabelled": {result_split(s): dataset.relabelled(s) for s in tests if dataset.relabelled(s)},
        },
        "probes": {
            probe.name: {"kind": probe.kind, "label": probe.label, "mask": probe.mask, "description": probe.description}
            for probe in probes
        },
        "seeds": seeds,
        "sweep": sweep.to_json(),
        "conditioning": {
            "pca_dims": pca_dims,
            "frames_per_dimension": FRAMES_PER_DIMENSION,
            "feature_dim": int(pool_x.shape[1]),
            "per_seed": components,
        },
        "clipped_fraction": {f"{probe}/{split}": float(np.mean(v)) for (probe, split), v in clipped.items()},
        "intervals": {
            "method": METHOD,
            "samples": bootstrap_samples,
            "test_episodes": plan.episodes,
            "seeds": seeds,
            "none": plan.reason,
            "missing": missing,
        },
        "omitted": omitted,
        "last_n": encoder.last_n,
        "feature_dim": int(pool_x.shape[1]),
        "batch_size": batch_size,
        "device": str(device),
        "selection": selections,
        "protocol": __doc__.split("\n\n", 1)[1].strip().replace("\n", " "),
    }
    timing = {"seconds": time.perf_counter() - started, "probe_seconds": time.perf_counter() - probe_started}
    return ProbeRun(rows=rows, config=config, timing=timing | stats.to_json(), sums=sums)
