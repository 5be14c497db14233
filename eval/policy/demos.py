"""Scripted-expert demonstrations for behaviour cloning, recorded once and cached on disk.

One compressed ``.npz`` per (task, seed) under ``ROOT/demos/<setting>/<task>/seedNNNNNN.npz``, where the
setting names everything that changes the pixels or the trajectory (Meta-World version, camera, image
size, step limit). A demo holds the frames the policy sees (``rgb``), the simulator's observation
(``state``), its proprioception and the expert's actions; step t pairs frame t (the state before acting)
with ``actions[t]``. A store with ``render=False`` records physics only (no frames, setting
``mw<version>-state-h<steps>``): the trajectories are the same, since rendering never touches physics.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from dynaflip.io import atomic_path

DEMO_ARRAYS = ("rgb", "proprio", "actions", "success")
OPTIONAL_ARRAYS = ("state",)  # demos recorded before observations were stored lack it


@dataclass
class Demo:
    """One expert episode: ``rgb`` (T, H, W, 3) uint8 (None when loaded without frames or recorded without
    rendering), ``proprio`` (T, 4) float32 end-effector xyz + gripper opening, ``actions`` (T, 4) float32,
    ``success`` (T,) bool, ``state`` (T, 39) float32 the simulator's observation (None in old demo files)."""

    task: str
    seed: int
    rgb: np.ndarray | None
    proprio: np.ndarray
    actions: np.ndarray
    success: np.ndarray
    state: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return int(self.actions.shape[0])

    @property
    def succeeded(self) -> bool:
        return bool(np.any(self.success))


def record_demo(
    task: str,
    *,
    seed: int,
    camera: str,
    image_size: tuple[int, int],
    max_steps: int,
    stop_after_success: bool = True,
    render: bool = True,
) -> Demo:
    """Run Meta-World's scripted expert from the initial state of ``seed``, rendering every step (or none
    with ``render=False``)."""
    from dynaflip.sim import MetaWorldSim

    frames, states, proprio, actions, success = [], [], [], [], []
    with MetaWorldSim(task, seed=seed, camera=camera, image_size=image_size, max_steps=max_steps) as sim:
        for _ in range(sim.max_steps):
            if render:
                frames.append(sim.render(with_depth=False).rgb)
            states.append(sim.observation())
            proprio.append(sim.proprioception())
            action = sim.expert_action()
            info = sim.step(action)[-1]
            actions.append(action)
            success.append(info["success"])
            if stop_after_success and info["success"]:
                break
    return Demo(
        task=task,
        seed=int(seed),
        rgb=np.stack(frames).astype(np.uint8) if render else None,
        proprio=np.stack(proprio).astype(np.float32),
        actions=np.stack(actions).astype(np.float32),
        success=np.asarray(success, dtype=bool),
        state=np.stack(states).astype(np.float32),
    )


def _metaworld_version() -> str:
    try:
        return metadata.version("metaworld")
    except metadata.PackageNotFoundError:
        return "unknown"


class DemoStore:
    """Demonstrations of one recording setting on disk; every file is written atomically."""

    def __init__(
        self,
        root: str | Path,
        *,
        camera: str,
        image_size: tuple[int, int],
        max_steps: int,
        stop_after_success: bool = True,
        render: bool = True,
    ) -> None:
        self.root = Path(root)
        self.camera = camera
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.max_steps = int(max_steps)
        self.stop_after_success = bool(stop_after_success)
        self.render = bool(render)
        height, width = self.image_size
        tail = "" if self.stop_after_success else "-full"
        view = f"{camera}-{height}x{width}" if self.render else "state"
        self.setting = f"mw{_metaworld_version()}-{view}-h{self.max_steps}{tail}"

    def options(self) -> dict:
        """Constructor keywords (without root), to rebuild the store in a worker process."""
        return {
            "camera": self.camera,
            "image_size": self.image_size,
            "max_steps": self.max_steps,
            "stop_after_success": self.stop_after_success,
            "render": self.render,
        }

    def path(self, task: str, seed: int) -> Path:
        return self.root / "demos" / self.setting / task / f"seed{int(seed):06d}.npz"

    def dataset_id(self, task: str, seed: int) -> str:
        """The demo's name in a :class:`~dynaflip.eval.feature_cache.FeatureCache`."""
        return f"policy-demo-{self.setting}-{task}-seed{int(seed):06d}"

    def has(self, task: str, seed: int) -> bool:
        return self.path(task, seed).is_file()

    def record(self, task: str, seed: int) -> Demo:
        """Record the demo of (task, seed) and store it (overwriting a stored one)."""
        demo = record_demo(
            task,
            seed=seed,
            camera=self.camera,
            image_size=self.image_size,
            max_steps=self.max_steps,
            stop_after_success=self.stop_after_success,
            render=self.render,
        )
        arrays = {name: getattr(demo, name) for name in (*DEMO_ARRAYS, *OPTIONAL_ARRAYS)}
        with atomic_path(self.path(task, seed)) as temp, open(temp, "wb") as handle:
            np.savez_compressed(handle, **{name: array for name, array in arrays.items() if array is not None})
        return demo

    def load(self, task: str, seed: int, *, frames: bool = True) -> Demo:
        """A stored demo; ``frames=False`` skips decompressing the images (the features may be cached)."""
        path = self.path(task, seed)
        required = [name for name in DEMO_ARRAYS if name != "rgb"]
        try:
            with np.load(path) as data:
                arrays = {name: data[name] for name in required}
                for name in (*OPTIONAL_ARRAYS, *(["rgb"] if frames and self.render else [])):
                    arrays[name] = data[name] if name in data.files else None
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(f"{path}: not a readable demo file ({error}); delete it to record it again") from None
        if frames and self.render and arrays["rgb"] is None:
            raise ValueError(f"{path}: not a readable demo file (no frames); delete it to record it again")
        return Demo(task=task, seed=int(seed), **{"rgb": None, **arrays})
