"""Build a probe dataset: scripted-expert episodes -> frames with ground-truth labels, split by episode,
plus OOD test splits that re-render the test states under each visual shift.

Resumable: each finished episode is written atomically to ``parts/``; a rerun with the same settings skips
those, then assembles the split files and writes ``dataset.json`` last. Workers are started with
'forkserver' (or 'spawn'): a MuJoCo GL context does not survive a plain fork.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dynaflip import __version__
from dynaflip.io import atomic_path, atomic_write_json
from dynaflip.workers import worker_context

from .labels import INDEX_KEYS, LABEL_KEYS, VIEW_LABELS, VIEW_SHIFTS, label_definitions
from .manifest import BUILD_FILE, FORMAT, FORMAT_VERSION, MANIFEST_FILE, PARTS_DIR, fingerprint, read_manifest
from .sampling import shift_seed
from .splits import TEST_ID, TRAIN, VAL, ood_split, plan_episodes


@dataclass(frozen=True)
class BuildSettings:
    """Everything that determines a probe dataset (stored in ``dataset.json`` as ``settings``)."""

    tasks: tuple[str, ...]
    episodes_per_task: int = 10
    val_episodes: int = 2
    test_episodes: int = 2
    frames_per_episode: int = 10
    horizon: int = 8  # control steps between a frame and its flow target (Meta-World runs at 80 steps/s)
    grid_size: int = 8
    image_size: int = 224
    camera: str = "corner"
    max_steps: int = 200
    seed: int = 0
    shifts: tuple[str, ...] = ("camera", "lighting", "table", "distractors", "occlusion")

    def check(self) -> None:
        """Raise ValueError naming the first bad field."""
        from dynaflip.sim import SHIFTS, get_task

        if not self.tasks:
            raise ValueError("--tasks: expected at least one Meta-World v3 task")
        for task in self.tasks:
            get_task(task)
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"--tasks: a task is listed twice in {list(self.tasks)}")
        for shift in self.shifts:
            if shift not in SHIFTS:
                raise ValueError(f"--shifts: unknown shift {shift!r} (expected some of {', '.join(SHIFTS)})")
        for name in ("frames_per_episode", "horizon", "grid_size", "max_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"--{name.replace('_', '-')}: expected >= 1, got {getattr(self, name)}")
        if self.image_size < 16:
            raise ValueError(f"--image-size: expected >= 16 pixels, got {self.image_size}")
        if self.horizon >= self.max_steps:
            raise ValueError(f"--horizon: expected fewer steps than --max-steps ({self.max_steps}), got {self.horizon}")
        self.plan()

    def plan(self) -> dict[str, list[tuple[str, int]]]:
        return plan_episodes(
            list(self.tasks),
            episodes_per_task=self.episodes_per_task,
            val_episodes=self.val_episodes,
            test_episodes=self.test_episodes,
            seed=self.seed,
        )

    def to_json(self) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value for name, value in vars(self).items()}


@dataclass
class BuildSummary:
    """What a build did."""

    root: Path
    dataset_id: str = ""
    built: int = 0  # episodes rendered by this call
    skipped: int = 0  # episodes already in parts/ (resumed)
    already_complete: bool = False
    frames: dict[str, int] = field(default_factory=dict)
    expert_success: float = 0.0
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.already_complete:
            return f"{self.root}: already complete (dataset {self.dataset_id}); nothing to do"
        counts = ", ".join(f"{split} {count}" for split, count in self.frames.items())
        return (
            f"{self.root}: dataset {self.dataset_id}, {self.built} episodes rendered, {self.skipped} resumed, "
            f"expert success {100 * self.expert_success:.0f} %, frames: {counts}, {self.seconds:.1f} s"
        )


def build_probe_dataset(
    out_dir: str | Path,
    *,
    settings: BuildSettings,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> BuildSummary:
    """Build (or resume, or confirm) the probe dataset ``settings`` describe in ``out_dir``."""
    from tqdm.auto import tqdm

    settings.check()
    if int(workers) < 1:
        raise ValueError(f"--workers: expected >= 1, got {workers}")
    root = Path(out_dir)
    started = time.perf_counter()
    summary = BuildSummary(root=root)
    if overwrite:
        _clear(root)
    if _finished_with(root, settings, summary):
        return summary
    _claim(root, settings)
    plan = settings.plan()
    jobs = []
    for split, episodes in plan.items():
        for task, seed in episodes:
            path = _part_path(root, task, seed)
            shifts = list(settings.shifts) if split == TEST_ID else []
            if _part_complete(path, shifts):
                summary.skipped += 1
                continue
            job = {"task": task, "seed": seed, "task_index": settings.tasks.index(task), "shifts": shifts}
            jobs.append(job | {"path": str(path), "settings": settings.to_json()})
    bar = tqdm(total=len(jobs), desc="probe episodes", unit="ep", disable=not progress)
    try:
        for _ in _run(jobs, workers=int(workers)):
            summary.built += 1
            bar.update(1)
    finally:
        bar.close()
    manifest = _assemble(root, settings, plan)
    shutil.rmtree(root / PARTS_DIR, ignore_errors=True)
    summary.dataset_id = manifest["dataset_id"]
    summary.frames = {split: entry["frames"] for split, entry in manifest["splits"].items()}
    summary.expert_success = manifest["expert_success"]
    summary.seconds = time.perf_counter() - started
    return summary


def _finished_with(root: Path, settings: BuildSettings, summary: BuildSummary) -> bool:
    if not (root / MANIFEST_FILE).is_file():
        return False
    manifest = read_manifest(root)
    if manifest["settings"] != settings.to_json():
        raise ValueError(f"{root / MANIFEST_FILE}: {_difference(manifest['settings'], settings.to_json())}")
    summary.already_complete, summary.dataset_id = True, manifest["dataset_id"]
    summary.frames = {split: entry["frames"] for split, entry in manifest["splits"].items()}
    summary.expert_success = manifest["expert_success"]
    return True


def _difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    field_name = next(key for key in new if old.get(key) != new[key])
    return (
        f"this folder was built with {field_name}={old.get(field_name)!r}, not {new[field_name]!r} "
        "(use another --out, or --overwrite to rebuild)"
    )


def _claim(root: Path, settings: BuildSettings) -> None:
    """Record the settings of this build, or check them against the interrupted build being resumed."""
    path = root / BUILD_FILE
    if path.is_file():
        old = json.loads(path.read_text())
        if old != settings.to_json():
            raise ValueError(f"{path}: {_difference(old, settings.to_json())}")
        return
    if root.is_dir() and any(root.iterdir()):
        raise ValueError(f"--out: '{root}' is not empty and holds no probe dataset (use an empty or new folder)")
    atomic_write_json(path, settings.to_json())


def _clear(root: Path) -> None:
    """Remove what a probe build writes (only that: other files in the folder are kept)."""
    shutil.rmtree(root / PARTS_DIR, ignore_errors=True)
    for path in [root / MANIFEST_FILE, root / BUILD_FILE, *root.glob("*.npz")]:
        path.unlink(missing_ok=True)


def _part_path(root: Path, task: str, seed: int) -> Path:
    return root / PARTS_DIR / f"{task}-s{seed}.npz"


def _part_complete(path: Path, shifts: list[str]) -> bool:
    """Whether a finished part holds every array this build needs (a part written by an older version
    lacks the re-expressed view labels, and is rendered again)."""
    if not path.is_file():
        return False
    wanted = [f"{label}-{shift}" for shift in shifts if shift in VIEW_SHIFTS for label in VIEW_LABELS]
    try:
        with np.load(path, allow_pickle=False) as part:
            return all(key in part.files for key in wanted)
    except (OSError, ValueError):
        return False  # unreadable: render it again


def _run(jobs: list[dict[str, Any]], *, workers: int) -> Iterator[dict[str, Any]]:
    if workers == 1 or len(jobs) <= 1:
        from .episode import release_simulators

        try:
            yield from map(build_episode_part, jobs)
        finally:
            release_simulators()
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=worker_context(__name__)) as pool:
        futures = [pool.submit(build_episode_part, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def build_episode_part(job: dict[str, Any]) -> dict[str, Any]:
    """Render one episode and write its part file atomically (runs in a worker when workers > 1)."""
    from dynaflip.sim import import_torch_first, sample_shift

    import_torch_first()
    from .episode import probe_episode

    options = job["settings"]
    shifts = [sample_shift(name, seed=shift_seed(job["task"], job["seed"])) for name in job["shifts"]]
    arrays = probe_episode(
        job["task"],
        seed=job["seed"],
        task_index=job["task_index"],
        image_size=options["image_size"],
        frames=options["frames_per_episode"],
        horizon=options["horizon"],
        grid_size=options["grid_size"],
        camera=options["camera"],
        max_steps=options["max_steps"],
        shifts=shifts,
    )
    meta = {
        "task": job["task"],
        "seed": job["seed"],
        "frames": len(arrays["rgb"]),
        "fps": float(arrays.pop("fps")),
        "steps": int(arrays.pop("steps")),
        "success": bool(arrays.pop("success")),
        "shifts": {shift.name: shift.to_json() for shift in shifts},
    }
    with atomic_path(job["path"]) as temp, open(temp, "wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)
    return meta


def _assemble(root: Path, settings: BuildSettings, plan: dict[str, list[tuple[str, int]]]) -> dict[str, Any]:
    """Concatenate the parts into one npz per split and write the manifest (last)."""
    splits: dict[str, dict[str, Any]] = {}
    files: dict[str, Path] = {}
    episodes_done = successes = 0
    fps = 0.0
    for split in (TRAIN, VAL, TEST_ID):
        parts = [np.load(_part_path(root, task, seed), allow_pickle=False) for task, seed in plan[split]]
        try:
            metas = [json.loads(str(part["meta"])) for part in parts]
            labels = {key: np.concatenate([part[key] for part in parts]) for key in (*LABEL_KEYS, *INDEX_KEYS)}
            outputs = {split: "rgb"} | ({ood_split(s): f"rgb-{s}" for s in settings.shifts} if split == TEST_ID else {})
            for name, key in outputs.items():
                shift = None if name == split else name.removeprefix("test-")
                relabelled = list(VIEW_LABELS) if shift in VIEW_SHIFTS else []
                own = {label: np.concatenate([part[f"{label}-{shift}"] for part in parts]) for label in relabelled}
                files[name] = root / f"{name}.npz"
                with atomic_path(files[name]) as temp, open(temp, "wb") as handle:
                    np.savez_compressed(handle, rgb=np.concatenate([part[key] for part in parts]), **(labels | own))
                episodes = [
                    {key: meta[key] for key in ("task", "seed", "frames", "steps", "success")}
                    | ({"shift": meta["shifts"][shift]} if shift else {})
                    for meta in metas
                ]
                entry = {"file": files[name].name, "frames": len(labels["step"]), "shift": shift, "source": split}
                entry |= {"relabelled": relabelled} if relabelled else {}
                splits[name] = entry | {"episodes": episodes}
        finally:
            for part in parts:
                part.close()
        episodes_done += len(metas)
        fps = metas[0]["fps"]
        successes += sum(meta["success"] for meta in metas)
    from dynaflip.sim import SHIFTS

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dataset_id": fingerprint(settings.to_json(), files),
        "complete": True,
        "settings": settings.to_json(),
        "tasks": list(settings.tasks),
        "fps": fps,
        "horizon_seconds": settings.horizon / fps,
        "query_grid": {
            "grid_size": settings.grid_size,
            "definition": "dynaflip.geometry.query_grid(grid_size, width=S, height=S): a uniform row-major grid "
            "5 % in from the border, pixel (u, v) = (column, row) with integer pixel centres",
        },
        "frame_sampling": "per episode, one step drawn uniformly from each of frames_per_episode equal bins of "
        "[0, T - horizon]; an episode runs until horizon steps after the expert's first success, or max_steps",
        "splits": splits,
        "shifts": {name: SHIFTS[name].description for name in settings.shifts},
        "labels": label_definitions(grid_size=settings.grid_size, horizon=settings.horizon, fps=fps),
        "expert_success": successes / max(episodes_done, 1),
        "dynaflip_version": __version__,
    }
    atomic_write_json(root / MANIFEST_FILE, manifest)
    (root / BUILD_FILE).unlink(missing_ok=True)
    return manifest
