"""One probe episode: run the scripted expert, pick frames, re-render them (in distribution and under each
OOD shift) and compute their labels, including the exact future 3D flow of a query grid.

The expert runs twice: a physics-only pass finds the episode's length and records every state, then a replay
of the same actions from the same initial state renders the chosen steps. MuJoCo is deterministic, and the
replay is checked against the first pass, so the labels belong to exactly the rendered states. Shifts act at
render time only, so an OOD image shows the very state its ID twin shows and shares its labels, except the
labels defined on the camera's pixel grid (the future flow): a shift that moves the camera gets them
recomputed from its own render, so they stay a function of the image the probe sees.
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
from typing import Any

import numpy as np

from dynaflip.geometry import query_grid

from .labels import INDEX_KEYS, LABEL_KEYS, VIEW_LABELS, VIEW_SHIFTS
from .sampling import episode_rng, sample_steps


def rollout(sim: Any, *, horizon: int) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """Physics only: expert actions (T, 4) and the T + 1 states around them. The episode ends ``horizon``
    steps after the first success (so frames near success still have a future) or at ``max_steps``."""
    states, actions, stop_at = [sim.state()], [], None
    while sim.step_count < sim.max_steps and (stop_at is None or sim.step_count < stop_at):
        action = sim.expert_action()
        _, _, _, _, info = sim.step(action)
        actions.append(action)
        states.append(sim.state())
        if info["success"] and stop_at is None:
            stop_at = sim.step_count + horizon
    return np.asarray(actions, dtype=np.float32).reshape(-1, 4), states


def frame_labels(
    frame: Any, state: dict[str, np.ndarray], future: dict[str, np.ndarray], *, grid: np.ndarray, grid_size: int
) -> dict[str, np.ndarray]:
    """Labels of one rendered ID frame (with depth and segmentation); ``future`` is the state h steps later."""
    from dynaflip.sim import ground_truth_flow

    points, valid = ground_truth_flow(
        grid,
        depth=frame.depth,
        segmentation=frame.segmentation,
        intrinsics=frame.intrinsics,
        cam_to_world=frame.cam_to_world,
        reference_body_poses=state["body_poses"],
        body_poses=np.stack([state["body_poses"], future["body_poses"]]),
    )
    displacement = np.where(valid[1][:, None], points[1] - points[0], 0.0)
    return {
        "ee_pos": state["ee_pos"].astype(np.float32),
        "gripper": np.float32(state["gripper"]),
        "object_pos": state["object_pos"].astype(np.float32),
        "flow": displacement.reshape(grid_size, grid_size, 3).astype(np.float32),
        "flow_valid": valid[1].reshape(grid_size, grid_size),
        "tcp_pos": state["tcp_pos"].astype(np.float32),
        "arm_joints": state["arm_joints"].astype(np.float32),
        "object_quat": state["object_quat"].astype(np.float32),
    }


def probe_episode(
    task: str,
    *,
    seed: int,
    task_index: int,
    image_size: int,
    frames: int,
    horizon: int,
    grid_size: int,
    camera: str,
    max_steps: int,
    shifts: Sequence[Any] = (),
) -> dict[str, Any]:
    """Frames and labels of one episode (arrays with a leading frame axis).

    ``shifts``: sampled :class:`~dynaflip.sim.Shift` objects; each adds ``rgb-<name>`` with the same states
    rendered under that shift, and a shift that moves the camera also ``<label>-<name>`` for the view labels
    (:data:`.labels.VIEW_LABELS`) of that view. Also returns ``steps`` (episode length in actions),
    ``success`` and ``fps``.
    """
    sim = _simulator(task, seed=seed, camera=camera, image_size=image_size, max_steps=max_steps)
    actions, states = rollout(sim, horizon=horizon)
    succeeded = bool(sim.succeeded)
    chosen = sample_steps(len(states), frames=frames, horizon=horizon, rng=episode_rng(task, seed))
    wanted = {int(step) for step in chosen}
    grid = query_grid(grid_size=grid_size, width=image_size, height=image_size)
    sim.reset()
    out: dict[str, list[Any]] = {key: [] for key in ("rgb", *LABEL_KEYS, *INDEX_KEYS)}
    out |= {f"rgb-{shift.name}": [] for shift in shifts}
    out |= {f"{key}-{shift.name}": [] for shift in shifts if shift.name in VIEW_SHIFTS for key in VIEW_LABELS}
    for step in range(int(chosen[-1]) + 1):
        if step in wanted:
            _check_replay(sim.state(), states[step], task=task, seed=seed, step=step)
            sim.set_shift(None)
            frame = sim.render(with_depth=True, with_segmentation=True)
            out["rgb"].append(frame.rgb)
            labels = frame_labels(frame, states[step], states[step + horizon], grid=grid, grid_size=grid_size)
            for key, value in labels.items():
                out[key].append(value)
            out["task"].append(task_index)
            out["episode_seed"].append(seed)
            out["step"].append(step)
            for shift in shifts:
                sim.set_shift(shift)
                moved = shift.name in VIEW_SHIFTS
                shifted = sim.render(with_depth=moved, with_segmentation=moved)
                out[f"rgb-{shift.name}"].append(shifted.rgb)
                if moved:
                    view = frame_labels(shifted, states[step], states[step + horizon], grid=grid, grid_size=grid_size)
                    for key in VIEW_LABELS:
                        out[f"{key}-{shift.name}"].append(view[key])
        if step < chosen[-1]:
            sim.step(actions[step])
    arrays: dict[str, Any] = {key: np.stack(values) for key, values in out.items()}
    arrays["task"] = arrays["task"].astype(np.int64)
    arrays["episode_seed"] = arrays["episode_seed"].astype(np.int64)
    arrays["step"] = arrays["step"].astype(np.int64)
    arrays["steps"] = len(actions)
    arrays["success"] = succeeded
    arrays["fps"] = sim.fps
    return arrays


_SIMULATORS: dict[tuple[str, str, int, int], Any] = {}
_KEEP = 4  # simulators kept per process (one per task; each holds a GL context)


def _simulator(task: str, *, seed: int, camera: str, image_size: int, max_steps: int) -> Any:
    """A simulator of ``task`` reset to ``seed``, reused across episodes of a process: creating the GL
    context costs about 0.75 s per simulator, more than rendering a whole probe episode at 64 px."""
    from dynaflip.sim import MetaWorldSim

    key = (task, camera, int(image_size), int(max_steps))
    sim = _SIMULATORS.pop(key, None)
    if sim is None:
        if not _SIMULATORS:
            atexit.register(release_simulators)  # close GL contexts before interpreter teardown breaks them
        sim = MetaWorldSim(task, seed=seed, camera=camera, image_size=(image_size, image_size), max_steps=max_steps)
    else:
        sim.reset(seed=seed)
    _SIMULATORS[key] = sim  # most recently used last
    while len(_SIMULATORS) > _KEEP:
        _SIMULATORS.pop(next(iter(_SIMULATORS))).close()
    return sim


def release_simulators() -> None:
    """Close the simulators this process keeps (their GL contexts)."""
    while _SIMULATORS:
        _SIMULATORS.popitem()[1].close()


def _check_replay(now: dict[str, np.ndarray], recorded: dict[str, np.ndarray], **where: Any) -> None:
    if not np.allclose(now["body_poses"], recorded["body_poses"], atol=1e-8):
        raise RuntimeError(f"replay diverged from the recorded episode at {where}: the simulator is not deterministic")
