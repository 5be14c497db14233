"""Optional simulator module: Meta-World v3 tasks rendered offscreen with MuJoCo.

Shared by the extraction stage (simulated robot videos), the probe evaluation (frames with ground-truth
state, in- and out-of-distribution) and the policy evaluation (behaviour cloning and rollouts).
Importing this package does not import mujoco or metaworld (install them with ``dynaflip[sim]``); it only
sets the headless GL defaults (``MUJOCO_GL=egl``) so that a later ``import mujoco`` picks them up.
"""

from __future__ import annotations

import importlib
from typing import Any

from .backend import set_gl_defaults

set_gl_defaults()

_EXPORTS = {
    "import_torch_first": "backend",
    "TaskSpec": "tasks",
    "TASKS": "tasks",
    "TASK_SUITE": "tasks",
    "QUICK_SUITE": "tasks",
    "DIFFICULTIES": "tasks",
    "get_task": "tasks",
    "tasks_by_difficulty": "tasks",
    "expert_policy": "tasks",
    "UPSIDE_DOWN_CAMERAS": "camera",
    "camera_intrinsics": "camera",
    "camera_to_world": "camera",
    "is_upside_down": "camera",
    "perturb_camera_pose": "camera",
    "Frame": "frame",
    "BACKGROUND_ID": "frame",
    "RENDER_ONLY_ID": "frame",
    "ID": "shifts",
    "SHIFTS": "shifts",
    "Shift": "shifts",
    "ShiftSpec": "shifts",
    "sample_shift": "shifts",
    "SceneRenderer": "renderer",
    "MetaWorldSim": "env",
    "ground_truth_flow": "ground_truth",
    "Episode": "episodes",
    "record_episode": "episodes",
    "write_episode": "video",
    "read_episode": "video",
    "episode_name": "video",
    "generate_episodes": "generate",
    "GenerationSummary": "generate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy: submodules (and mujoco/metaworld behind them) load on first use.
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dynaflip.sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
