"""Generate scripted-expert episodes for many tasks into a plain folder: reproducible and resumable.

Episode i of a task uses seed ``seed + i``; an episode whose files all exist is skipped, so an interrupted
run continues where it stopped. With ``workers > 1`` episodes run in worker processes started by
'forkserver' (or 'spawn'): a MuJoCo GL context does not survive a plain fork.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..workers import worker_context
from .env import DEFAULT_MAX_STEPS
from .renderer import DEFAULT_CAMERA, DEFAULT_IMAGE_SIZE, check_image_size
from .shifts import shift_spec
from .tasks import get_task
from .video import episode_exists, episode_name


@dataclass
class GenerationSummary:
    """What a :func:`generate_episodes` call did (episodes it wrote, and those already there)."""

    written: int = 0
    skipped: int = 0
    successes: int = 0  # written episodes in which the expert succeeded
    frames: int = 0  # frames written
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)  # written episodes in which the expert failed

    def __str__(self) -> str:
        return (
            f"{self.written} episodes written ({self.successes} successful, {self.frames} frames), "
            f"{self.skipped} already present, {self.seconds:.1f} s"
        )


def generate_episodes(
    tasks: list[str] | tuple[str, ...],
    *,
    episodes_per_task: int,
    out_dir: str | Path,
    seed: int = 0,
    max_steps: int = DEFAULT_MAX_STEPS,
    camera: str = DEFAULT_CAMERA,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    shift: str | None = None,
    stop_after_success: bool = True,
    with_segmentation: bool = False,
    workers: int = 1,
    progress: bool = True,
) -> GenerationSummary:
    """Write ``episodes_per_task`` expert episodes of each task to ``out_dir`` (see :mod:`.video`).

    ``shift`` names an OOD shift applied to every episode (its parameters drawn with the episode seed).
    """
    from tqdm.auto import tqdm

    for task in tasks:
        get_task(task)
    if shift is not None:
        shift_spec(shift)
    if int(episodes_per_task) < 0:
        raise ValueError(f"episodes_per_task: expected >= 0, got {episodes_per_task!r}")
    if int(workers) < 1:
        raise ValueError(f"workers: expected >= 1, got {workers!r}")
    height, width = check_image_size(image_size)
    if height % 2 or width % 2:
        raise ValueError(f"image_size: H.264 video needs an even height and width, got {image_size!r}")
    out_dir = Path(out_dir)
    summary = GenerationSummary()
    started = time.perf_counter()
    jobs = []
    for task in tasks:
        for index in range(int(episodes_per_task)):
            name = episode_name(task, seed + index, shift=shift)
            if episode_exists(out_dir, name):
                summary.skipped += 1
                continue
            options = {"max_steps": max_steps, "camera": camera, "image_size": (height, width), "shift": shift}
            options |= {"stop_after_success": stop_after_success, "with_segmentation": with_segmentation}
            jobs.append({"task": task, "seed": seed + index, "name": name, "out_dir": str(out_dir), **options})
    bar = tqdm(total=len(jobs), desc="episodes", unit="ep", disable=not progress)
    try:
        for result in _run(jobs, workers=int(workers)):
            summary.written += 1
            summary.frames += result["frames"]
            if result["success"]:
                summary.successes += 1
            else:
                summary.failed.append(result["name"])
            bar.update(1)
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _run(jobs: list[dict[str, Any]], *, workers: int):
    if workers == 1 or len(jobs) <= 1:
        yield from map(_generate_one, jobs)
        return
    context = worker_context(__name__)  # never plain 'fork': see dynaflip.workers
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures = [pool.submit(_generate_one, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def _generate_one(job: dict[str, Any]) -> dict[str, Any]:
    """Record and write one episode (runs in a worker process when workers > 1)."""
    from .backend import import_torch_first

    import_torch_first()
    from .episodes import record_episode
    from .video import write_episode

    episode = record_episode(
        job["task"],
        seed=job["seed"],
        max_steps=job["max_steps"],
        camera=job["camera"],
        image_size=job["image_size"],
        shift=job["shift"],
        stop_after_success=job["stop_after_success"],
        with_segmentation=job["with_segmentation"],
    )
    write_episode(episode, job["out_dir"], name=job["name"])
    return {"name": job["name"], "frames": episode.num_frames, "success": episode.succeeded}
