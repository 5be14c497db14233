"""The policy-transfer evaluation loop: demos -> features -> behaviour cloning -> rollouts -> results.

Outputs in ``out_dir``: results.json (the shared format, kind "policy"), results.md, policy.png,
rollouts.jsonl (one line per episode), run.json (training losses, demo and cache statistics) and
policies/<task>/seed<N>.pt. Demos and their features live in the cache folder and are shared across runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from dynaflip.config import to_dict
from dynaflip.io import atomic_write_json, atomic_write_text

from ..feature_cache import FeatureCache
from ..results import ResultRow, encoder_summary, write_results
from .aggregate import success_rows
from .config import PolicyConfig, validate
from .demos import DemoStore
from .features import FeatureStats, PolicyEncoder, demo_features
from .plots import plot_success
from .rollout import RolloutRecord
from .tables import results_markdown
from .training import BCData, TrainSummary, train_bc
from .workers import DemoJob, RolloutJob, WorkerPool, WorkerSettings, record_demo_job, rollout_job

T = TypeVar("T")


@dataclass
class PolicyRun:
    """What :func:`run_policy_eval` produced."""

    out_dir: Path
    rows: list[ResultRow]
    timing: dict[str, float]
    records: list[RolloutRecord] = field(default_factory=list)
    training: list[TrainSummary] = field(default_factory=list)

    @property
    def results_path(self) -> Path:
        return self.out_dir / "results.json"


def _progress(items: Iterable[T], *, total: int, desc: str, unit: str, enabled: bool) -> Iterator[T]:
    with tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True) as bar:
        for item in items:
            yield item
            bar.update(1)


def _record_demos(pool: WorkerPool, store: DemoStore, config: PolicyConfig) -> dict[str, Any]:
    """Record the demos missing from the store (in the workers); returns counts and the expert's success."""
    seeds = config.demo_seeds()
    missing = [(task, seed) for task in config.tasks for seed in seeds if not store.has(task, seed)]
    jobs = [DemoJob(root=str(store.root), store=store.options(), task=t, seed=s) for t, s in missing]
    failed = []
    for result in _progress(
        pool.run(record_demo_job, jobs), total=len(jobs), desc="demos", unit="demo", enabled=config.runtime.progress
    ):
        if not result["success"]:
            failed.append(f"{result['task']} seed {result['seed']}")
    return {"recorded": len(jobs), "cached": len(config.tasks) * len(seeds) - len(jobs), "expert_failed": failed}


def _train_policies(
    encoder: PolicyEncoder, store: DemoStore, config: PolicyConfig, out_dir: Path, stats: FeatureStats
) -> tuple[dict[tuple[str, int], Path], list[TrainSummary], float]:
    """Encode the demos (cached) and train one policy per (task, BC seed); returns their paths."""
    cache = FeatureCache(config.cache_root() / "features")
    seeds = config.demo_seeds()
    feature_seconds = 0.0
    paths, summaries = {}, []
    total = len(config.tasks) * len(config.bc.seeds)
    with tqdm(total=total, desc="train", unit="policy", disable=not config.runtime.progress) as bar:
        for task in config.tasks:
            started = time.perf_counter()
            features, demos = demo_features(
                encoder,
                store,
                cache,
                task=task,
                seeds=seeds,
                batch_size=config.features.batch_size,
                device=config.runtime.train_device,
                stats=stats,
            )
            feature_seconds += time.perf_counter() - started
            split = config.demos.per_task
            train = BCData.from_demos(features[:split], demos[:split])
            val = BCData.from_demos(features[split:], demos[split:]) if config.demos.validation else None
            for seed in config.bc.seeds:
                policy, summary = train_bc(
                    train,
                    val,
                    task=task,
                    seed=seed,
                    hidden=config.bc.hidden,
                    epochs=config.bc.epochs,
                    batch_size=config.bc.batch_size,
                    lr=config.bc.lr,
                    weight_decay=config.bc.weight_decay,
                    select=config.bc.select,
                    std_floor=config.bc.std_floor,
                    input_clip=config.bc.input_clip,
                    input_transform=config.bc.input_transform,
                    transform_width=config.bc.transform_width,
                    device=config.runtime.train_device,
                    threads=config.runtime.train_threads,
                )
                paths[(task, seed)] = policy.save(
                    out_dir / "policies" / task / f"seed{seed}.pt", extra={"encoder": encoder.identity, "task": task}
                )
                summaries.append(summary)
                bar.set_postfix(task=task.removesuffix("-v3"), val_mse=f"{summary.val_loss or summary.train_loss:.4f}")
                bar.update(1)
    return paths, summaries, feature_seconds


def _rollouts(pool: WorkerPool, config: PolicyConfig, policies: dict[tuple[str, int], Path]) -> list[RolloutRecord]:
    # Grouped by task then seed: each worker keeps one simulator and its few latest policies.
    jobs = [
        RolloutJob(
            task=task,
            split=split,
            episode_seed=episode_seed,
            camera=config.render.camera,
            image_size=config.image_size,
            horizon=config.rollout.horizon,
            policy_path=str(policies[(task, seed)]),
            policy_seed=seed,
        )
        for task in config.tasks
        for seed in config.bc.seeds
        for split in config.splits
        for episode_seed in config.episode_seeds(seed)
    ]
    records = []
    with tqdm(total=len(jobs), desc="rollouts", unit="ep", disable=not config.runtime.progress) as bar:
        for record in pool.run(rollout_job, jobs):
            records.append(record)
            bar.update(1)
            bar.set_postfix(success=f"{sum(r.success for r in records) / len(records):.0%}")
    return records


def demo_store(config: PolicyConfig, *, render: bool) -> DemoStore:
    """The demo store of ``config``; ``render=False`` for encoders that never look at a frame."""
    return DemoStore(
        config.cache_root(),
        camera=config.render.camera,
        image_size=config.image_size,
        max_steps=config.demos.max_steps,
        stop_after_success=config.demos.stop_after_success,
        render=render,
    )


def run_config(config: PolicyConfig, *, store: DemoStore) -> dict[str, Any]:
    """The config as results.json records it: every setting, plus the seeds and splits it expands to."""
    return {
        **to_dict(config),
        "seeds": list(config.bc.seeds),  # the repeated unit, at the top level for dynaflip-report's pairing
        "splits": config.splits,
        "demo_seeds": config.demo_seeds(),
        "episode_seeds": config.all_episode_seeds(),
        "episode_seeds_by_policy_seed": {str(seed): config.episode_seeds(seed) for seed in config.bc.seeds},
        "episode_seed_scheme": config.episode_seed_scheme(),
        "simulator": store.setting,
    }


def run_policy_eval(config: PolicyConfig, *, encoder: PolicyEncoder, out_dir: str | Path) -> PolicyRun:
    """Run the whole protocol for one encoder (see the module docstring for the outputs)."""
    validate(config)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = demo_store(config, render=encoder.needs_image)
    settings = WorkerSettings(
        encoder_spec=encoder.spec,
        encoder_identity=encoder.identity,
        last_n=config.features.last_n,
        device=config.runtime.device,
        threads=config.runtime.threads_per_worker,
    )
    stats = FeatureStats()
    with WorkerPool(workers=config.runtime.workers, settings=settings, encoder=encoder) as pool:
        demo_info = _record_demos(pool, store, config)
        demo_seconds = time.perf_counter() - started
        mark = time.perf_counter()
        policies, training, feature_seconds = _train_policies(encoder, store, config, out_dir, stats)
        train_seconds = time.perf_counter() - mark - feature_seconds
        mark = time.perf_counter()
        records = _rollouts(pool, config, policies)
        rollout_seconds = time.perf_counter() - mark
    rows = success_rows(records, tasks=config.tasks, splits=config.splits, seeds=config.bc.seeds)
    steps = sum(record.steps for record in records)
    timing = {
        "seconds": time.perf_counter() - started,
        "demo_seconds": demo_seconds,
        "feature_seconds": feature_seconds,
        "train_seconds": train_seconds,
        "rollout_seconds": rollout_seconds,
        "rollouts": float(len(records)),
        "steps": float(steps),
        "rollouts_per_second": len(records) / max(rollout_seconds, 1e-9),
        "steps_per_second": steps / max(rollout_seconds, 1e-9),
        "workers": float(config.runtime.workers),
        "demos_recorded": float(demo_info["recorded"]),
        "demos_cached": float(demo_info["cached"]),
        "features_computed": float(stats.computed),
        "features_cached": float(stats.cached),
    }
    config_data = run_config(config, store=store)
    encoder_data = encoder_summary(encoder)
    write_results(
        out_dir / "results.json", kind="policy", encoder=encoder_data, config=config_data, rows=rows, timing=timing
    )
    lines = "".join(json.dumps(record.to_json()) + "\n" for record in records)
    atomic_write_text(out_dir / "rollouts.jsonl", lines)
    atomic_write_json(
        out_dir / "run.json",
        {
            "encoder": encoder_data,
            "demos": {**demo_info, "setting": store.setting, "cache": str(store.root)},
            "features": {"computed": stats.computed, "cached": stats.cached, "frames_encoded": stats.frames},
            "training": [summary.to_json() for summary in training],
            "timing": timing,
        },
    )
    atomic_write_text(
        out_dir / "results.md",
        results_markdown(rows, splits=config.splits, encoder=encoder_data, config=config_data, timing=timing),
    )
    plot_success(rows, out_dir / "policy.png", splits=config.splits, title=f"Meta-World success: {encoder.name}")
    return PolicyRun(out_dir=out_dir, rows=rows, timing=timing, records=records, training=training)
