"""A Meta-World v3 task with reproducible randomisation, a scripted expert, ground-truth state and frames.

``MetaWorldSim(task, seed=s)`` builds the environment exactly as Meta-World's own
``ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[f"{task}-goal-observable"](seed=s)`` does, so seed s gives the same
object and goal positions as other code that uses that constructor; every ``reset()`` returns to that
initial state, and ``reset(seed=t)`` re-randomises in place (the same state as a new sim with seed t).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .backend import import_metaworld, import_mujoco
from .camera import camera_id, camera_intrinsics
from .frame import Frame
from .renderer import DEFAULT_CAMERA, DEFAULT_IMAGE_SIZE, SceneRenderer, check_image_size
from .shifts import Shift, resolve_shift
from .tasks import expert_policy, get_task

DEFAULT_MAX_STEPS = 200  # the Lift3D protocol's horizon
HAND_BODY = "hand"
ARM_JOINTS = tuple(f"right_j{index}" for index in range(7))
FINGER_BODIES = ("rightclaw", "leftclaw")
MAX_FINGER_DISTANCE = 0.1  # metres; Meta-World normalises the finger distance by this
SCENE_BODIES = ("world", "tablelink", "RetainingWall", HAND_BODY)  # bodies whose trees are not task objects
GOAL_TARGET_HALF_SIZE = 0.02  # metres: the goal counts as a 4 cm cube when the occluder keeps it visible
_BOX_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)


def resolve_body(model: Any, reference: str) -> int:
    """Body id of a :class:`~dynaflip.sim.tasks.TaskSpec` ``main_object`` reference ("name", "geom:name",
    "joint:name" or "site:name")."""
    mujoco = import_mujoco()
    kind, _, name = reference.rpartition(":")
    kinds = {"": mujoco.mjtObj.mjOBJ_BODY, "body": mujoco.mjtObj.mjOBJ_BODY, "geom": mujoco.mjtObj.mjOBJ_GEOM}
    kinds |= {"joint": mujoco.mjtObj.mjOBJ_JOINT, "site": mujoco.mjtObj.mjOBJ_SITE}
    if kind not in kinds:
        raise ValueError(f"main_object: expected 'name' or body:/geom:/joint:/site: prefix, got {reference!r}")
    index = mujoco.mj_name2id(model, kinds[kind], name)
    if index < 0:
        raise ValueError(f"main_object: the model has no {kind or 'body'} named {name!r}")
    if kind in ("", "body"):
        return int(index)
    table = {"geom": model.geom_bodyid, "joint": model.jnt_bodyid, "site": model.site_bodyid}[kind]
    return int(table[index])


class MetaWorldSim:
    """One Meta-World v3 task: physics, scripted expert, ground-truth state and rendered frames.

    ``shift`` is an OOD shift name from :data:`~dynaflip.sim.shifts.SHIFTS`, a sampled
    :class:`~dynaflip.sim.shifts.Shift`, or None; a name is sampled with ``shift_seed`` (default: ``seed``).
    The renderer is created on the first :meth:`render`, so physics-only use needs no GL.
    """

    def __init__(
        self,
        task: str,
        *,
        seed: int = 0,
        camera: str = DEFAULT_CAMERA,
        image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
        shift: str | Shift | None = None,
        shift_seed: int | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
    ):
        self.task = get_task(task)
        if int(max_steps) < 1:
            raise ValueError(f"max_steps: expected a positive integer, got {max_steps!r}")
        self.image_size = check_image_size(image_size)
        self.camera = camera
        self.max_steps = int(max_steps)
        self.seed = int(seed)
        metaworld = import_metaworld()
        environments = metaworld.env_dict.ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE
        self.env = environments[f"{self.task.name}-goal-observable"](seed=self.seed)
        self.env.max_path_length = self.max_steps
        self.model, self.data = self.env.model, self.env.data
        try:
            camera_id(self.model, camera)  # an unknown camera fails now, not at the first render
        except ValueError:
            self.env.close()
            raise
        self.fps = 1.0 / float(self.env.dt)
        self.shift = resolve_shift(shift, seed=self.seed if shift_seed is None else shift_seed)
        self.body_names = [self.model.body(index).name for index in range(self.model.nbody)]
        self._hand = self.body_names.index(HAND_BODY)
        self._fingers = [self.body_names.index(name) for name in FINGER_BODIES]
        self._arm_qpos = [int(self.model.joint(name).qposadr[0]) for name in ARM_JOINTS]
        self._object = None if self.task.main_object is None else resolve_body(self.model, self.task.main_object)
        self._renderer: SceneRenderer | None = None
        self._policy: Any = None
        self.reset()

    @property
    def instruction(self) -> str:
        return self.task.instruction

    @property
    def object_body(self) -> int | None:
        """Body id of the task's main object (None for reach-like tasks); its pose is in ``body_poses``."""
        return self._object

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        """Back to the initial state of ``seed`` (default: the current seed); returns the observation."""
        if seed is not None and int(seed) != self.seed:
            self._randomise(int(seed))
        obs, _ = self.env.reset()
        self._obs = np.asarray(obs, dtype=np.float64)
        self.step_count = 0
        self.succeeded = False
        self._obstacles = self._table_obstacles()
        self._targets = self.occlusion_targets()
        return self._obs.copy()

    def _randomise(self, seed: int) -> None:
        # Mirrors metaworld.env_dict's goal-observable constructor: Meta-World draws the object/goal
        # positions from the global NumPy RNG, which is saved and restored around the draw.
        saved = np.random.get_state()
        np.random.seed(seed)
        try:
            self.env._freeze_rand_vec = False
            self.env.reset()
            self.env._freeze_rand_vec = True
            self.env.seed(seed)
        finally:
            np.random.set_state(saved)
        self.seed = seed

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply a 4-d action (xyz displacement, gripper effort; clipped to [-1, 1]).

        Returns ``(obs, reward, terminated, truncated, info)``; ``info["success"]`` is a bool and
        ``truncated`` is True at ``max_steps``. Meta-World never terminates an episode by itself.
        """
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (4,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action: expected 4 finite numbers, got {np.asarray(action).tolist()}")
        if self.step_count >= self.max_steps:
            raise RuntimeError(f"step: the episode ended at max_steps={self.max_steps}; call reset()")
        obs, reward, terminated, truncated, info = self.env.step(np.clip(action, -1.0, 1.0))
        self._obs = np.asarray(obs, dtype=np.float64)
        self.step_count += 1
        info = dict(info)
        info["success"] = bool(info.get("success", False))
        self.succeeded |= info["success"]
        return self._obs.copy(), float(reward), bool(terminated), bool(truncated), info

    def expert_action(self) -> np.ndarray:
        """The scripted expert's action (4,) float32 for the current observation."""
        if self._policy is None:
            self._policy = expert_policy(self.task.name)
        with warnings.catch_warnings():  # "Constant(s) may be too high": we clip, as the env does
            warnings.simplefilter("ignore", UserWarning)
            action = self._policy.get_action(self._obs)
        return np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)

    def set_shift(self, shift: str | Shift | None, *, seed: int | None = None) -> None:
        """Use another OOD shift from the next render on (None: no shift). Physics is unaffected."""
        self.shift = resolve_shift(shift, seed=self.seed if seed is None else seed)

    def render(self, *, with_depth: bool = True, with_segmentation: bool = False) -> Frame:
        """The current scene from ``camera`` with the current shift (see :class:`~dynaflip.sim.frame.Frame`)."""
        if self._renderer is None:
            self._renderer = SceneRenderer(self.model, camera=self.camera, image_size=self.image_size)
        return self._renderer.render(
            self.data,
            shift=self.shift,
            obstacles=self._obstacles,
            targets=self._targets,
            with_depth=with_depth,
            with_segmentation=with_segmentation,
        )

    @property
    def intrinsics(self) -> np.ndarray:
        """(3, 3) float32 intrinsics of the rendered frames."""
        height, width = self.image_size
        return camera_intrinsics(self.model, camera_id(self.model, self.camera), width=width, height=height)

    def state(self) -> dict[str, np.ndarray]:
        """Ground-truth state now (world frame, metres).

        ``ee_pos`` (3,) the hand body's position (Meta-World's end effector, = obs[:3]); ``tcp_pos`` (3,)
        the midpoint of the fingertips; ``gripper`` () opening in [0, 1] (finger distance / 0.1 m, clipped,
        as Meta-World's obs[3]; 1 = open); ``object_pos`` (3,) / ``object_quat`` (4,) the task's main
        object body (the goal position and identity for reach-like tasks); ``object_point`` (3,) the point
        Meta-World itself tracks on that object (obs[4:7], e.g. a drawer's handle, a button's face; the goal
        for reach-like tasks); ``goal_pos`` (3,); ``arm_joints`` (7,) joint angles; ``body_poses``
        (nbody, 7) every body's position and wxyz quaternion; ``qpos``/``qvel``.
        """
        data = self.data
        fingers = np.linalg.norm(data.xpos[self._fingers[0]] - data.xpos[self._fingers[1]])
        goal = np.asarray(self.env._get_pos_goal(), dtype=np.float64).copy()
        if self._object is None:
            object_pos, object_quat, object_point = goal.copy(), np.array([1.0, 0.0, 0.0, 0.0]), goal.copy()
        else:
            object_pos, object_quat = data.xpos[self._object].copy(), data.xquat[self._object].copy()
            object_point = np.asarray(self.env._get_pos_objects()[:3], dtype=np.float64).copy()
        return {
            "ee_pos": data.xpos[self._hand].copy(),
            "tcp_pos": np.asarray(self.env.tcp_center, dtype=np.float64).copy(),
            "gripper": np.asarray(np.clip(fingers / MAX_FINGER_DISTANCE, 0.0, 1.0)),
            "object_pos": object_pos,
            "object_quat": object_quat,
            "object_point": object_point,
            "goal_pos": goal,
            "arm_joints": data.qpos[self._arm_qpos].copy(),
            "body_poses": np.concatenate([data.xpos, data.xquat], axis=1).copy(),
            "qpos": data.qpos.copy(),
            "qvel": data.qvel.copy(),
        }

    def observation(self) -> np.ndarray:
        """(39,) float32 Meta-World's goal-observable observation now: hand xyz, gripper, the task objects'
        positions and quaternions (18 numbers), the same at the previous step, and the goal position (the
        last 3; the simulator is built goal-observable, so it is never zeroed)."""
        return self._obs.astype(np.float32)

    def proprioception(self) -> np.ndarray:
        """(4,) float32 policy input: end-effector xyz and gripper opening (the Lift3D protocol), as in
        :meth:`state` (computed alone: a rollout asks for it every step)."""
        data = self.data
        fingers = np.linalg.norm(data.xpos[self._fingers[0]] - data.xpos[self._fingers[1]])
        gripper = np.clip(fingers / MAX_FINGER_DISTANCE, 0.0, 1.0)
        return np.concatenate([data.xpos[self._hand], [gripper]]).astype(np.float32)

    def occlusion_targets(self) -> list[np.ndarray]:
        """What an occlusion shift must leave visible, as (K, 3) world points per target: the corners of the
        bounding boxes of the main object's geoms (its body and the bodies below it), and a small cube
        around the goal. Taken at reset, so the occluder stays put for the whole episode."""
        model, data = self.model, self.data
        targets = []
        if self._object is not None:
            subtree = {body for body in range(model.nbody) if self._object in self._ancestors(body)}
            corners = []
            for geom in range(model.ngeom):
                if int(model.geom_bodyid[geom]) not in subtree:
                    continue
                rotation = data.geom_xmat[geom].reshape(3, 3)
                centre, half = model.geom_aabb[geom, :3], model.geom_aabb[geom, 3:]
                corners.append(data.geom_xpos[geom] + (centre + _BOX_CORNERS * half) @ rotation.T)
            if corners:
                targets.append(np.concatenate(corners))
        goal = np.asarray(self.env._get_pos_goal(), dtype=np.float64).reshape(3)
        targets.append(goal + GOAL_TARGET_HALF_SIZE * _BOX_CORNERS)
        return targets

    def _ancestors(self, body: int) -> set[int]:
        chain = {body}
        while body > 0:
            body = int(self.model.body_parentid[body])
            chain.add(body)
        return chain

    def _table_obstacles(self) -> np.ndarray:
        """(M, 3) rows (x, y, radius): the table footprints of the task objects, the hand and the goal."""
        model, data = self.model, self.data
        scene_roots = {
            int(model.body_rootid[self.body_names.index(name)]) for name in SCENE_BODIES if name in self.body_names
        }
        rows = []
        for geom in range(model.ngeom):
            if int(model.body_rootid[model.geom_bodyid[geom]]) in scene_roots:
                continue
            rotation = data.geom_xmat[geom].reshape(3, 3)
            centre = data.geom_xpos[geom] + rotation @ model.geom_aabb[geom, :3]
            half = np.abs(rotation) @ model.geom_aabb[geom, 3:]  # world-axis box around the geom
            rows.append((centre[0], centre[1], float(np.hypot(half[0], half[1]))))
        rows.append((*data.xpos[self._hand][:2], 0.08))
        rows.append((*np.asarray(self.env._get_pos_goal())[:2], 0.04))
        return np.asarray(rows, dtype=np.float64)

    def close(self) -> None:
        """Release the renderer and the environment (idempotent)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self.env is not None:
            self.env.close()
            self.env = None

    def __enter__(self) -> MetaWorldSim:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
