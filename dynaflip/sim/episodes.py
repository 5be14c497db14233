"""Scripted-expert episodes: frames, depth, camera and ground-truth state per step, in memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .env import DEFAULT_MAX_STEPS, MetaWorldSim
from .renderer import DEFAULT_CAMERA, DEFAULT_IMAGE_SIZE
from .shifts import Shift

# Per-step arrays taken from MetaWorldSim.state(), and all per-step state arrays (first axis T) of an
# Episode as stored in NAME.state.npz.
SIM_STATE_FIELDS = (
    "ee_pos",
    "tcp_pos",
    "gripper",
    "object_pos",
    "object_quat",
    "object_point",
    "goal_pos",
    "arm_joints",
    "body_poses",
)
STATE_FIELDS = (*SIM_STATE_FIELDS, "actions", "success")


@dataclass
class Episode:
    """One episode of T steps. Step t pairs frame t (the state before acting) with ``actions[t]``, the
    expert's action at that state; ``success[t]`` is the environment's success flag after that action.

    Shapes: ``rgb`` (T, H, W, 3) uint8, ``depth`` (T, H, W) float32 metres, ``intrinsics`` (3, 3) float32,
    ``cam_to_world`` (T, 4, 4) float64 (OpenCV), ``ee_pos``, ``tcp_pos``, ``object_pos``, ``object_point``
    and ``goal_pos`` (T, 3), ``gripper`` (T,) opening in [0, 1], ``object_quat`` (T, 4) wxyz, ``arm_joints``
    (T, 7), ``actions`` (T, 4) float32, ``success`` (T,) bool, ``body_poses`` (T, nbody, 7) [xyz, wxyz] named
    by ``body_names``, ``segmentation`` optional (T, H, W) int32 body ids. See :meth:`MetaWorldSim.state`.
    """

    task: str
    seed: int
    instruction: str
    camera: str
    fps: float
    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: np.ndarray
    cam_to_world: np.ndarray
    ee_pos: np.ndarray
    tcp_pos: np.ndarray
    gripper: np.ndarray
    object_pos: np.ndarray
    object_quat: np.ndarray
    object_point: np.ndarray
    goal_pos: np.ndarray
    arm_joints: np.ndarray
    actions: np.ndarray
    success: np.ndarray
    body_poses: np.ndarray
    body_names: list[str]
    shift: Shift | None = None
    segmentation: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def succeeded(self) -> bool:
        """The protocol's episode success: the environment reported success at any step."""
        return bool(np.any(self.success))

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in STATE_FIELDS}


def record_episode(
    task: str,
    *,
    seed: int = 0,
    max_steps: int = DEFAULT_MAX_STEPS,
    camera: str = DEFAULT_CAMERA,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    shift: str | Shift | None = None,
    shift_seed: int | None = None,
    stop_after_success: bool = True,
    with_segmentation: bool = False,
) -> Episode:
    """Run Meta-World's scripted expert on ``task`` from the initial state of ``seed`` and record it.

    Stops after ``max_steps`` steps, or at the first successful step when ``stop_after_success``.
    """
    steps: dict[str, list[np.ndarray]] = {name: [] for name in (*STATE_FIELDS, "rgb", "depth", "cam_to_world")}
    segmentations: list[np.ndarray] = []
    with MetaWorldSim(
        task, seed=seed, camera=camera, image_size=image_size, shift=shift, shift_seed=shift_seed, max_steps=max_steps
    ) as sim:
        for _ in range(sim.max_steps):
            frame = sim.render(with_segmentation=with_segmentation)
            state = sim.state()
            action = sim.expert_action()
            _, _, _, _, info = sim.step(action)
            for name in SIM_STATE_FIELDS:
                steps[name].append(state[name])
            steps["actions"].append(action)
            steps["success"].append(np.asarray(info["success"]))
            steps["rgb"].append(frame.rgb)
            steps["depth"].append(frame.depth)
            steps["cam_to_world"].append(frame.cam_to_world)
            if with_segmentation:
                segmentations.append(frame.segmentation)
            if stop_after_success and info["success"]:
                break
        arrays = {name: np.stack(values) for name, values in steps.items()}
        return Episode(
            task=sim.task.name,
            seed=int(seed),
            instruction=sim.instruction,
            camera=camera,
            fps=sim.fps,
            rgb=arrays["rgb"].astype(np.uint8),
            depth=arrays["depth"].astype(np.float32),
            intrinsics=sim.intrinsics,
            cam_to_world=arrays["cam_to_world"].astype(np.float64),
            ee_pos=arrays["ee_pos"],
            tcp_pos=arrays["tcp_pos"],
            gripper=arrays["gripper"].astype(np.float64),
            object_pos=arrays["object_pos"],
            object_quat=arrays["object_quat"],
            object_point=arrays["object_point"],
            goal_pos=arrays["goal_pos"],
            arm_joints=arrays["arm_joints"],
            actions=arrays["actions"].astype(np.float32),
            success=arrays["success"].astype(bool),
            body_poses=arrays["body_poses"],
            body_names=list(sim.body_names),
            shift=sim.shift,
            segmentation=np.stack(segmentations).astype(np.int32) if with_segmentation else None,
        )
