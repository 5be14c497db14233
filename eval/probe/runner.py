"""The probe suite of one encoder on one dataset: features, per-seed sweeps, scores on every test split.

Protocol: features of frozen encoders are standardised on the training frames; each probe is one linear
layer whose (learning rate, weight decay, step) is selected on the validation episodes, then scored on
test-id and on every OOD split (the same states re-rendered). Seed 0 uses the stored train/val episodes;
every further seed re-draws which training episodes validate and re-initialises the probe, so the 95 %
interval over seeds covers both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..encoders import EvalEncoder
from ..feature_cache import FeatureCache
from ..results import ResultRow
from .dataset import ProbeDataset
from .features import split_features
from .metrics import accuracy, mse, r2_score
from .splits import TRAIN, VAL, partition, result_split
from .sweep import SweepConfig, fit_probe
from .targets import CLASSIFICATION, ProbeSpec


@dataclass
class ProbeRun:
    """Rows for results.json, and what produced them."""

    rows: list[ResultRow]
    config: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)


def score(probe: ProbeSpec, prediction: np.ndarray, target: np.ndarray, mask: np.ndarray | None) -> dict[str, float]:
    """The probe's metrics on one split."""
    if probe.kind == CLASSIFICATION:
        return {"accuracy": accuracy(target, prediction)}
    return {"r2": r2_score(target, prediction, mask), "mse": mse(target, prediction, mask)}


def run_probes(
    dataset: ProbeDataset,
    encoder: EvalEncoder,
    *,
    probes: list[ProbeSpec],
    cache: FeatureCache,
    seeds: int = 3,
    sweep: SweepConfig | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> ProbeRun:
    """Train and score ``probes`` on ``encoder``'s features of ``dataset`` for ``seeds`` seeds."""
    from tqdm.auto import tqdm

    if seeds < 1:
        raise ValueError(f"--seeds: expected >= 1, got {seeds}")
    sweep = sweep or SweepConfig()
    sweep.check()
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
    values: dict[tuple[str, str, str], list[float]] = {}
    selections = []
    probe_started = time.perf_counter()
    bar = tqdm(total=seeds * len(probes), desc=f"probes {encoder.name}", unit="fit", disable=not progress)
    try:
        for seed in range(seeds):
            train, val = partition(pool["task"], pool["episode_seed"], stored_val=stored_val, seed=seed)
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
                )
                selections.append({"probe": probe.name, "seed": seed, **record})
                for split in tests:
                    test_target, test_mask = probe.target(dataset.labels(split))
                    scores = score(probe, fitted.predict(features[split]), test_target, test_mask)
                    for metric, value in scores.items():
                        values.setdefault((probe.name, result_split(split), metric), []).append(value)
                bar.update(1)
    finally:
        bar.close()
    rows = [
        ResultRow.from_values(group=group, split=split, metric=metric, values=scores)
        for (group, split, metric), scores in values.items()
    ]
    config = {
        "dataset": {
            "path": str(dataset.root),
            "dataset_id": dataset.dataset_id,
            "tasks": dataset.tasks,
            "settings": dataset.manifest["settings"],
            "frames": {split: dataset.num_frames(split) for split in [TRAIN, VAL, *tests]},
        },
        "probes": {
            probe.name: {"kind": probe.kind, "label": probe.label, "mask": probe.mask, "description": probe.description}
            for probe in probes
        },
        "seeds": seeds,
        "sweep": sweep.to_json(),
        "last_n": encoder.last_n,
        "feature_dim": int(pool_x.shape[1]),
        "batch_size": batch_size,
        "device": str(device),
        "selection": selections,
        "protocol": __doc__.split("\n\n", 1)[1].strip().replace("\n", " "),
    }
    timing = {"seconds": time.perf_counter() - started, "probe_seconds": time.perf_counter() - probe_started}
    return ProbeRun(rows=rows, config=config, timing=timing | stats.to_json())
