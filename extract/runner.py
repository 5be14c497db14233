"""Run an extraction: plan the shards, process the pending ones (in worker processes), write the manifest.

Parallel on one machine over ``workers`` processes, across machines over ``num_nodes`` (node r writes the
shards whose index is r modulo num_nodes; a Slurm array maps onto this). Resumable: finished shards are
skipped unless their clips' inputs changed since (then they are re-extracted, and the run says which).
Two runs over the same clips with the same config produce the same shards and keys.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import multiprocessing
import queue
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dynaflip import remote_io
from dynaflip.config import to_dict
from dynaflip.errors import DynaflipError
from dynaflip.io import atomic_write_json

from .clip_processor import EXTRACTOR_NAME, ClipProcessor
from .clips import ClipSpec, SkippedClip
from .config import ExtractConfig
from .depth import create_depth_backend
from .depth.recorded import NO_DEPTH_FIX, clips_without_depth
from .manifest import PLAN_FILE, build_manifest
from .shards import (
    RECORDS_DIR,
    ShardPlan,
    clip_inputs,
    plan_fingerprint,
    plan_shards,
    remove_stale_temporaries,
    shard_status,
    write_shard,
)
from .tracking import create_tracker


class PlanMismatch(DynaflipError, RuntimeError):
    """The output folder was made from other clips or settings."""


@dataclass
class Summary:
    out_dir: Path
    shards_written: int = 0
    shards_already_done: int = 0
    clips: int = 0
    samples: int = 0
    skipped: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    manifest: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # said at the start of the run
    reextracted: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # shard -> clip id -> changed inputs

    def lines(self) -> list[str]:
        rate = self.clips / self.seconds if self.seconds > 0 else 0.0
        out = [
            f"extraction into {self.out_dir}: {self.shards_written} shards written this run, "
            f"{self.shards_already_done} already done",
            f"  this run: {self.clips} clips -> {self.samples} samples in {self.seconds:.1f} s ({rate:.2f} clips/s)",
        ]
        if self.reextracted:
            out.append(f"  re-extracted because their inputs changed: {describe_changes(self.reextracted)}")
        if self.skipped:
            out.append(
                "  skipped this run: " + ", ".join(f"{reason} {count}" for reason, count in self.skipped.items())
            )
        if self.manifest:
            m = self.manifest
            status = "complete" if m["complete"] else f"{m['num_shards_done']}/{m['num_shards']} shards done"
            out.append(f"  dataset: {m['num_samples']} samples in {m['num_shards_done']} shards ({status})")
        return out


def build_processor(config: ExtractConfig, text_embeddings: dict | None = None) -> ClipProcessor:
    tracker = create_tracker(config.tracking.backend, **config.tracking.options)
    depth_options = dict(config.depth.options)
    if config.depth.backend == "none":
        depth_options.setdefault("allow_2_5d", config.depth.allow_2_5d)
    depth = create_depth_backend(config.depth.backend, **depth_options)
    return ClipProcessor(
        config,
        tracker=tracker,
        depth=depth,
        text_embeddings=text_embeddings,
        text_encoder=config.output.text_encoder if text_embeddings else None,
    )


def collect_clips(
    items: Iterable[ClipSpec | SkippedClip], *, limit: int | None = None
) -> tuple[list[ClipSpec], list[SkippedClip]]:
    """Split a source's stream into clips (sorted by id, ids checked unique) and skipped items."""
    clips: dict[str, ClipSpec] = {}
    skipped: list[SkippedClip] = []
    for item in items:
        if isinstance(item, SkippedClip):
            skipped.append(item)
            continue
        if item.clip_id in clips:
            raise ValueError(
                f"clip_id '{item.clip_id}' is used twice ({clips[item.clip_id].video_path} and {item.video_path}); "
                "clip ids must be unique"
            )
        clips[item.clip_id] = item
    ordered = [clips[key] for key in sorted(clips)]
    return (ordered[:limit] if limit else ordered), skipped


def run_extraction(
    items: Iterable[ClipSpec | SkippedClip],
    *,
    out_dir: str | Path,
    config: ExtractConfig,
    source: str,
    workers: int = 1,
    num_nodes: int = 1,
    node_rank: int = 0,
    limit: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    notify: Callable[[str], None] | None = None,
) -> Summary:
    """Extract ``items`` into ``out_dir``. ``notify`` receives what the run says at its start (default:
    printed to stderr); a setting that cannot produce samples raises ValueError before any work."""
    start = time.perf_counter()
    options = dict(config=config, source=source, workers=workers, num_nodes=num_nodes, node_rank=node_rank)
    options.update(limit=limit, overwrite=overwrite, progress=progress, notify=notify)
    if remote_io.is_remote(str(out_dir)):
        return _run_into_remote(items, url=str(out_dir), **options)
    return _run(items, out_dir=Path(out_dir), start=start, **options)


def _run_into_remote(items: Iterable[ClipSpec | SkippedClip], *, url: str, **options: Any) -> Summary:
    """The run in a local staging folder, publishing shards, records and the indexes to ``url`` (remote_out.py)."""
    from .remote_out import RemoteOutput

    output = RemoteOutput(url)
    try:
        output.pull()
        summary = _run(items, out_dir=output.stage, remote=output, start=time.perf_counter(), **options)
        summary.out_dir = url  # type: ignore[assignment]  # what the user named, not the staging folder
        return summary
    finally:
        output.close()


def _run(
    items: Iterable[ClipSpec | SkippedClip],
    *,
    out_dir: Path,
    config: ExtractConfig,
    source: str,
    workers: int,
    num_nodes: int,
    node_rank: int,
    limit: int | None,
    overwrite: bool,
    progress: bool,
    notify: Callable[[str], None] | None,
    start: float,
    remote: Any = None,
) -> Summary:
    notify = notify or _print_notice
    remote_url = remote.url if remote is not None else None
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir}: is a file; expected a folder (new, or holding an extraction to resume)")
    if not 0 <= node_rank < num_nodes:
        raise ValueError(f"node_rank: expected 0 <= node_rank < num_nodes={num_nodes}, got {node_rank}")
    clips, source_skips = collect_clips(items, limit=limit)
    notices = _check_depth_inputs(clips, config)
    plans = plan_shards(clips, clips_per_shard=config.output.clips_per_shard)
    processor_preview = build_processor(config)  # fails early on a bad backend config, before any work
    extractor = processor_preview.extractor
    if remote is not None and overwrite:
        remote.clear()
    _write_or_check_plan(out_dir, clips, plans, source_skips, config, source, extractor, overwrite=overwrite)
    published = None
    if remote is not None:
        published = remote.names()
        if "plan.json" not in published or overwrite:
            remote.push_plan()

    mine = [plan for plan in plans if plan.index % num_nodes == node_rank]
    pending: list[ShardPlan] = []
    replaced: dict[str, dict[str, list[str]]] = {}
    for plan in mine:
        status = shard_status(
            out_dir,
            plan,
            {clip.clip_id: clip_inputs(clip) for clip in plan.clips},
            shard_present=None if published is None else plan.name in published,
        )
        if not status.done:
            pending.append(plan)
            if status.changed:
                replaced[plan.name] = status.changed
    if replaced:
        notices.append(
            f"re-extracting shards whose inputs changed since they were written: {describe_changes(replaced)}"
        )
    for plan in pending:
        remove_stale_temporaries(out_dir, plan)
    summary = Summary(
        out_dir=out_dir, shards_already_done=len(mine) - len(pending), notices=notices, reextracted=replaced
    )
    for notice in notices:
        notify(notice)

    from dynaflip.models.text_encoder import quiet_loading

    quiet = contextlib.ExitStack()  # --no-progress: no "Loading weights" bar of the text or depth model either
    quiet.enter_context(quiet_loading(not progress))
    text_embeddings = None
    if config.output.text_embeddings and pending:
        from .text_cache import text_embeddings as compute_text_embeddings

        instructions = {clip.instruction for plan in pending for clip in plan.clips}
        try:
            text_embeddings = compute_text_embeddings(
                instructions, encoder_name=config.output.text_encoder, out_dir=out_dir
            )
        except BaseException:
            quiet.close()
            raise

    bar = tqdm(
        total=sum(len(plan.clips) for plan in pending),
        unit="clip",
        desc="extract",
        disable=not progress,
        dynamic_ncols=True,
    )

    def on_clip(samples: int, reasons: list[str]) -> None:
        summary.clips += 1
        summary.samples += samples
        summary.skipped.update(reasons)
        bar.update(1)
        bar.set_postfix(samples=summary.samples, skipped=sum(summary.skipped.values()), refresh=False)

    try:
        if workers <= 1 or len(pending) <= 1:
            processor = build_processor(config, text_embeddings)
            for plan in pending:
                write_shard(
                    plan, processor, out_dir, on_clip=on_clip, replaced=replaced.get(plan.name), remote=remote_url
                )
                summary.shards_written += 1
        else:
            summary.shards_written = _run_pool(
                pending, config, text_embeddings, out_dir, workers, on_clip, replaced, remote_url
            )
    finally:
        bar.close()
        quiet.close()
        summary.seconds = time.perf_counter() - start
        if remote is not None:
            remote.push_indexes()  # the indexes last, from every task's records
            summary.manifest = json.loads((out_dir / "manifest.json").read_text())
        elif (out_dir / PLAN_FILE).is_file():
            summary.manifest = build_manifest(out_dir)
    return summary


def describe_changes(changes: dict[str, dict[str, list[str]]], *, limit: int = 5) -> str:
    """``shard-000001.tar (clip-a: annotation, video)``, at most ``limit`` clips named."""
    parts = [
        f"{shard} ({clip_id}: {', '.join(names)})"
        for shard, clips in sorted(changes.items())
        for clip_id, names in sorted(clips.items())
    ]
    more = f" and {len(parts) - limit} more clips" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def _print_notice(text: str) -> None:
    print(f"dynaflip-extract: {text}", file=sys.stderr, flush=True)


def _check_depth_inputs(clips: list[ClipSpec], config: ExtractConfig) -> list[str]:
    """Depth settings that cannot work are refused before any work; clips that will lack depth are said."""
    if config.depth.backend == "none" and not config.depth.allow_2_5d and not config.depth.options.get("allow_2_5d"):
        raise ValueError(
            "depth.backend=none stores no depth: add depth.allow_2_5d=true to store 2.5D flow (rays at unit "
            "depth), or use a depth backend"
        )
    if config.depth.backend != "recorded" or not clips:
        return []
    missing = clips_without_depth(clips)
    if not missing:
        return []
    example = f"e.g. {Path(missing[0].video_path).name} has no {Path(missing[0].video_path).stem}.depth.npz"
    if len(missing) == len(clips):
        raise ValueError(
            f"depth.backend=recorded: none of the {len(clips)} clips has a depth file ({example}); {NO_DEPTH_FIX}"
        )
    return [
        f"depth.backend=recorded: {len(missing)} of {len(clips)} clips have no depth file and will be skipped "
        f"as depth-unavailable ({example}); {NO_DEPTH_FIX}"
    ]


def _write_or_check_plan(
    out_dir: Path,
    clips: list[ClipSpec],
    plans: list[ShardPlan],
    source_skips: list[SkippedClip],
    config: ExtractConfig,
    source: str,
    extractor: dict[str, str],
    *,
    overwrite: bool,
) -> None:
    config_data = to_dict(config)
    fingerprint = plan_fingerprint(clips, config_data)
    plan_path = out_dir / PLAN_FILE
    if plan_path.is_file() and not overwrite:
        import json

        existing = json.loads(plan_path.read_text())
        if existing.get("fingerprint") != fingerprint:
            raise PlanMismatch(
                f"{out_dir}: this folder holds an extraction of other clips or settings (fingerprint "
                f"{existing.get('fingerprint')} vs {fingerprint}); use another --out, or --overwrite to start over"
            )
        return
    if overwrite and out_dir.exists():
        for path in out_dir.glob("shard-*.tar"):
            path.unlink()
        shutil.rmtree(out_dir / RECORDS_DIR, ignore_errors=True)
    (out_dir / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        plan_path,
        {
            "source": source,
            "fingerprint": fingerprint,
            "extractor": {**extractor, "name": EXTRACTOR_NAME},
            "config": config_data,
            "text_encoder": config.output.text_encoder if config.output.text_embeddings else None,
            "num_clips": len(clips),
            "num_shards": len(plans),
            "source_skips": [dataclasses.asdict(skip) for skip in source_skips],
            "shards": [{"name": plan.name, "clip_ids": [clip.clip_id for clip in plan.clips]} for plan in plans],
        },
    )


# ---- worker processes ---------------------------------------------------------------------------------

_worker_processor: ClipProcessor | None = None
_worker_queue: Any = None


def _worker_init(config: ExtractConfig, text_embeddings: dict | None, progress_queue: Any) -> None:
    global _worker_processor, _worker_queue
    _worker_processor = build_processor(config, text_embeddings)
    _worker_queue = progress_queue


def _worker_shard(
    plan: ShardPlan, out_dir: Path, replaced: dict[str, list[str]] | None, remote: str | None = None
) -> int:
    def report(samples: int, reasons: list[str]) -> None:
        _worker_queue.put((samples, reasons))

    return write_shard(plan, _worker_processor, out_dir, on_clip=report, replaced=replaced, remote=remote).samples


def _run_pool(pending, config, text_embeddings, out_dir, workers, on_clip, replaced, remote=None) -> int:
    # spawn: workers must not inherit torch's OpenMP threads or a MuJoCo GL context from the parent.
    context = multiprocessing.get_context("spawn")
    progress_queue = context.Queue()
    written = 0
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=min(workers, len(pending)),
        mp_context=context,
        initializer=_worker_init,
        initargs=(config, text_embeddings, progress_queue),
    ) as pool:
        futures = {pool.submit(_worker_shard, plan, out_dir, replaced.get(plan.name), remote) for plan in pending}
        while futures:
            done, futures = concurrent.futures.wait(futures, timeout=0.2)
            _drain(progress_queue, on_clip)
            for future in done:
                future.result()  # a worker's crash surfaces here; finished shards stay finished
                written += 1
        _drain(progress_queue, on_clip)
    return written


def _drain(progress_queue, on_clip) -> None:
    while True:
        try:
            samples, reasons = progress_queue.get_nowait()
        except queue.Empty:
            return
        on_clip(samples, reasons)
