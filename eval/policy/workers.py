"""Worker processes that record demonstrations and run evaluation rollouts in parallel.

Workers start by 'forkserver' (torch, torchvision, mujoco and metaworld preloaded once, before any GL
context exists) or 'spawn' where forkserver is missing; never by plain 'fork', because a MuJoCo GL context
does not survive it and torch must be imported before one exists (see dynaflip.sim.backend). Each worker
keeps one simulator (rebuilt when the task changes: jobs arrive grouped by task), loads the encoder once
and the few most recent policies, and runs the encoder forward itself, on ``device``.
With ``workers=1`` the same job functions run in this process.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from dynaflip.errors import DynaflipError
from dynaflip.sim.backend import import_torch_first
from dynaflip.workers import worker_context

from .rollout import PolicyActor, RolloutRecord, expert_actor, run_episode

T = TypeVar("T")
POLICY_CACHE = 4  # policies kept loaded per worker (jobs arrive grouped by task and seed)
_STATE: dict[str, Any] = {}


class WorkerDied(DynaflipError, RuntimeError):
    """A rollout worker process died (out of memory, or a crash in MuJoCo/OpenGL)."""


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker needs to know; ``encoder_spec`` None for pools that only record demos."""

    encoder_spec: str | None = None
    encoder_identity: str | None = None  # checked against the worker's own load of the spec
    last_n: int = 1
    device: str = "cpu"
    threads: int = 1  # torch (and software-rendering) threads per worker


@dataclass(frozen=True)
class DemoJob:
    root: str
    store: dict[str, Any]  # DemoStore options
    task: str
    seed: int


@dataclass(frozen=True)
class RolloutJob:
    task: str
    split: str
    episode_seed: int
    camera: str
    image_size: tuple[int, int]
    horizon: int
    policy_path: str | None  # None: the scripted expert
    policy_seed: int = -1


def init_worker(settings: WorkerSettings, encoder: Any = None) -> None:
    """Set up this process's worker state (called in each worker, or once in-process for workers=1)."""
    import_torch_first()  # before any GL context: see dynaflip.sim.backend
    release_worker()
    _STATE["settings"] = settings
    _STATE["policies"] = OrderedDict()
    if encoder is not None:
        _STATE["encoder"] = encoder
    if multiprocessing.parent_process() is not None:
        import torch

        torch.set_num_threads(max(1, settings.threads))
        # Mesa's software rasteriser starts one thread per core in every worker; the workers already use
        # the cores, and the surplus threads only contend (2 workers on 2 cores: 31 instead of 18 steps/s).
        os.environ.setdefault("LP_NUM_THREADS", str(max(1, settings.threads)))
        # Close the GL context before the worker exits: EGL teardown at interpreter exit prints errors.
        multiprocessing.util.Finalize(None, release_worker, exitpriority=10)
        _exit_when_orphaned()


def _exit_when_orphaned(interval: float = 1.0) -> None:
    """A worker whose parent was killed (SIGKILL, a Slurm cancel) would finish its rollout queue alone and keep
    the cores busy for minutes; it exits as soon as it is re-parented."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="dynaflip-orphan-watch", daemon=True).start()


def release_worker() -> None:
    """Close this process's simulator and forget its encoder and policies."""
    sim = _STATE.pop("sim", None)
    if sim is not None:
        sim.close()
    _STATE.clear()


def _settings() -> WorkerSettings:
    if "settings" not in _STATE:
        raise RuntimeError("worker: init_worker() was not called in this process")
    return _STATE["settings"]


def _encoder() -> Any:
    if "encoder" not in _STATE:
        from .features import open_encoder

        settings = _settings()
        if settings.encoder_spec is None:
            raise RuntimeError("worker: a rollout needs an encoder, but this pool was started without one")
        encoder = open_encoder(settings.encoder_spec, last_n=settings.last_n)
        if settings.encoder_identity is not None and encoder.identity != settings.encoder_identity:
            raise RuntimeError(
                f"worker: encoder '{settings.encoder_spec}' loaded with identity {encoder.identity}, but the "
                f"features were computed with {settings.encoder_identity} (its weights changed during the run?)"
            )
        _STATE["encoder"] = encoder
    return _STATE["encoder"]


def _sim(job: RolloutJob) -> Any:
    key = (job.task, job.camera, tuple(job.image_size), job.horizon)
    if _STATE.get("sim_key") != key:
        from dynaflip.sim import MetaWorldSim

        old = _STATE.pop("sim", None)
        if old is not None:
            old.close()
        _STATE["sim"] = MetaWorldSim(
            job.task, seed=job.episode_seed, camera=job.camera, image_size=job.image_size, max_steps=job.horizon
        )
        _STATE["sim_key"] = key
    return _STATE["sim"]


def _policy(path: str) -> Any:
    from .model import BCPolicy

    policies: OrderedDict = _STATE["policies"]
    if path not in policies:
        policies[path] = BCPolicy.load(path, device=_settings().device)
        while len(policies) > POLICY_CACHE:
            policies.popitem(last=False)
    policies.move_to_end(path)
    return policies[path]


def record_demo_job(job: DemoJob) -> dict[str, Any]:
    """Record and store one demonstration; returns its task, seed, steps and the expert's success."""
    from .demos import DemoStore

    demo = DemoStore(job.root, **job.store).record(job.task, job.seed)
    return {"task": job.task, "seed": job.seed, "steps": demo.steps, "success": demo.succeeded}


def rollout_job(job: RolloutJob) -> RolloutRecord:
    """Run one evaluation episode with the job's policy (or the expert)."""
    sim = _sim(job)
    if job.policy_path is None:
        actor = expert_actor
    else:
        actor = PolicyActor(_encoder(), _policy(job.policy_path), device=_settings().device)
    return run_episode(sim, actor, episode_seed=job.episode_seed, split=job.split, policy_seed=job.policy_seed)


class WorkerPool:
    """Runs job functions in ``workers`` processes (started on first use, kept for later phases), or in
    this process when ``workers == 1``. Results come back as they complete."""

    def __init__(self, *, workers: int, settings: WorkerSettings, encoder: Any = None) -> None:
        if workers < 1:
            raise ValueError(f"workers: expected >= 1, got {workers}")
        self.workers = int(workers)
        self.settings = settings
        self._encoder = encoder  # reused in-process; workers load their own copy from the spec
        self._executor: ProcessPoolExecutor | None = None
        self._local = False

    def run(self, function: Callable[[Any], T], jobs: Iterable[Any]) -> Iterator[T]:
        jobs = list(jobs)
        if not jobs:
            return
        if self.workers == 1:
            yield from self._run_here(function, jobs)
            return
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=worker_context(__name__),
                initializer=init_worker,
                initargs=(self.settings,),
            )
        pending: set[Future] = {self._executor.submit(function, job) for job in jobs}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        except BrokenProcessPool:
            raise WorkerDied("a worker process died (out of memory, or a crash in MuJoCo/OpenGL)") from None
        finally:
            for future in pending:
                future.cancel()

    def _run_here(self, function: Callable[[Any], T], jobs: list[Any]) -> Iterator[T]:
        import torch

        if not self._local:
            init_worker(self.settings, self._encoder)
            self._local = True
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, self.settings.threads))  # as in a worker, for the jobs only
        try:
            for job in jobs:
                yield function(job)
        finally:
            torch.set_num_threads(threads)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self._local:
            release_worker()
            self._local = False

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
